"""The adapter registry: every trained adapter with its evaluation, its files, and which one is in service.

``<adapters_dir>/registry.json`` is the trainer's record (the truth). Beside each adapter's event it keeps
the adapter's formats: ``peft`` (TGI's adapter_config.json + adapter_model.safetensors) and ``gguf``
(``adapter.gguf`` for the embedded llama.cpp server, with the result of the check that llama.cpp answers
like PEFT, or why there is none). The store key ``adapters:promoted``
(the AdapterEvent of the adapter in service) and the quoteflow.models.adapters topic are how extract
learns about it. Promotions form a stack, so a rollback re-promotes the adapter that served before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import topics
from shared.consumer import publish_event
from shared.events import AdapterEvent
from shared.store import Store

logger = logging.getLogger(__name__)

PROMOTED_KEY = "adapters:promoted"


class RegistryError(ValueError):
    """The requested registry change is impossible (unknown adapter, nothing to roll back to)."""


@dataclass
class RegistryState:
    """registry.json: adapters by id, their formats, the promotion stack (last = in service) and a log."""

    adapters: dict[str, AdapterEvent] = field(default_factory=dict)
    promotions: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "adapters": {key: value.model_dump(mode="json") for key, value in self.adapters.items()},
                "formats": self.formats,
                "promotions": self.promotions,
                "log": self.log,
            },
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> RegistryState:
        data = json.loads(text)
        return cls(
            adapters={key: AdapterEvent.model_validate(value) for key, value in data.get("adapters", {}).items()},
            promotions=list(data.get("promotions", [])),
            log=list(data.get("log", [])),
            formats={key: dict(value) for key, value in data.get("formats", {}).items()},
        )


class AdapterRegistry:
    """Reads and atomically rewrites ``registry.json``."""

    def __init__(self, adapters_dir: Path) -> None:
        self.adapters_dir = adapters_dir
        self.path = adapters_dir / "registry.json"

    def load(self) -> RegistryState:
        if not self.path.exists():
            return RegistryState()
        try:
            return RegistryState.from_json(self.path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, ValueError) as exc:
            raise RegistryError(f"{self.path} is damaged: {exc}") from exc

    def save(self, state: RegistryState) -> None:
        self.adapters_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(state.to_json(), encoding="utf-8")
        tmp.replace(self.path)

    def promoted(self) -> AdapterEvent | None:
        """The adapter in service, if any."""
        state = self.load()
        return state.adapters[state.promotions[-1]] if state.promotions else None

    def list(self) -> list[AdapterEvent]:
        """All adapters, oldest first."""
        return sorted(self.load().adapters.values(), key=lambda event: event.created_at)

    def formats(self, adapter_id: str) -> dict[str, Any]:
        """The adapter's formats as recorded (``peft``, ``gguf``); empty for adapters recorded without them."""
        return dict(self.load().formats.get(adapter_id, {}))

    def record(self, event: AdapterEvent, formats: dict[str, Any] | None = None) -> RegistryState:
        """Add a run's result (and its formats); a promoted adapter goes on top of the promotion stack."""
        state = self.load()
        state.adapters[event.adapter_id] = event
        if formats is not None:
            state.formats[event.adapter_id] = formats
        if event.promoted:
            state.promotions.append(event.adapter_id)
        state.log.append(_log_entry("promoted" if event.promoted else "rejected", event.adapter_id, event.reason))
        self.save(state)
        return state

    def plan_rollback(self) -> tuple[AdapterEvent, RegistryState]:
        """The event re-promoting the previous adapter, and the state to save once it is announced."""
        state = self.load()
        if len(state.promotions) < 2:
            current = state.promotions[-1] if state.promotions else None
            raise RegistryError(
                f"nothing to roll back to: {current or 'no adapter'} is the only adapter ever promoted"
                if current
                else "nothing to roll back to: no adapter has been promoted"
            )
        current_id = state.promotions.pop()
        previous = state.adapters[state.promotions[-1]]
        event = previous.model_copy(
            update={
                "promoted": True,
                "previous_adapter_id": current_id,
                "reason": f"rollback from {current_id}",
            }
        )
        state.adapters[previous.adapter_id] = event
        state.log.append(_log_entry("rollback", previous.adapter_id, f"rolled back from {current_id}"))
        return event, state


def _log_entry(action: str, adapter_id: str, reason: str) -> dict[str, Any]:
    return {"at": datetime.now(UTC).isoformat(), "action": action, "adapter_id": adapter_id, "reason": reason}


Publish = Callable[[AdapterEvent], Awaitable[None]]


class AdapterAnnouncer:
    """Tells the pipeline: every run's event on quoteflow.models.adapters, the promoted one under adapters:promoted."""

    def __init__(self, store: Store, publish: Publish) -> None:
        self.store = store
        self.publish = publish

    async def announce(self, event: AdapterEvent) -> None:
        if event.promoted:
            await self.store.set(PROMOTED_KEY, event.model_dump_json())
        await self.publish(event)

    async def reconcile(self, registry: AdapterRegistry) -> AdapterEvent | None:
        """At start-up: if the store does not name the registry's adapter in service, announce it again."""
        promoted = registry.promoted()
        if promoted is None:
            return None
        raw = await self.store.get(PROMOTED_KEY)
        current = AdapterEvent.model_validate_json(raw).adapter_id if raw else None
        if current == promoted.adapter_id:
            return None
        logger.warning("store names adapter %s, registry %s: announcing the registry's", current, promoted.adapter_id)
        await self.announce(promoted)
        return promoted


def broker_publisher(broker: Any) -> Publish:
    """Publish AdapterEvents with a (started) faststream KafkaBroker, keyed by adapter id."""

    async def publish(event: AdapterEvent) -> None:
        await publish_event(broker, event, key=event.adapter_id, topic=topics.MODELS_ADAPTERS)

    return publish
