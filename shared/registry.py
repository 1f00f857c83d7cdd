"""The adapter registry on disk: every trained adapter with its evaluation, its files, and which one is in service.

A contract between the trainer, which writes it, and extract, which reads which adapter to serve.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.events import AdapterEvent

logger = logging.getLogger(__name__)

# Adapters shipped with the code: a fresh checkout's LLM engine starts tuned (bundled_state).
BUNDLED_ADAPTERS_DIR = Path(__file__).resolve().parents[1] / "models" / "adapters"
BUNDLED_ENTRY = "registry_entry.json"


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


def bundled_state(folder: Path = BUNDLED_ADAPTERS_DIR) -> RegistryState:
    """The adapters shipped in the repository (``models/adapters/<id>/registry_entry.json``), newest promoted.

    A fresh checkout has no registry.json: its registry starts as this state, so the LLM engine serves the
    shipped adapter, a new run is gated against it and a rollback can return to it. Paths in the entries are
    relative to the adapter's folder (a checkout can be anywhere); here they become absolute.
    """
    state = RegistryState()
    entries: list[tuple[AdapterEvent, dict[str, Any]]] = []
    for entry_file in sorted(folder.glob(f"*/{BUNDLED_ENTRY}")):
        try:
            data = json.loads(entry_file.read_text(encoding="utf-8"))
            event = AdapterEvent.model_validate(data["event"])
        except (OSError, json.JSONDecodeError, KeyError, ValueError) as exc:
            logger.error("bundled adapter %s is unreadable, ignored: %s", entry_file, exc)
            continue
        where = entry_file.parent.resolve()
        formats = _absolute_paths(data.get("formats") or {}, where)
        entries.append((event.model_copy(update={"path": str(where)}), formats))
    for event, formats in sorted(entries, key=lambda pair: pair[0].created_at):
        state.adapters[event.adapter_id] = event
        state.formats[event.adapter_id] = formats
        if event.promoted:
            state.promotions.append(event.adapter_id)
            state.log.append(_log_entry("bundled", event.adapter_id, "shipped in the repository"))
    return state


def _absolute_paths(formats: dict[str, Any], where: Path) -> dict[str, Any]:
    """Format records whose ``path``/``config`` name files of the adapter folder by file name."""
    result: dict[str, Any] = {}
    for name, record in formats.items():
        record = dict(record)
        for key in ("path", "config"):
            if isinstance(record.get(key), str):
                record[key] = str(where / Path(record[key]).name)
        result[name] = record
    return result


class AdapterRegistry:
    """Reads and atomically rewrites ``registry.json``.

    ``bundled``: a registry that has no file yet starts with the adapters shipped in the repository
    (:func:`bundled_state`); None reads the setting ``QUOTEFLOW_BUNDLED_ADAPTER``.
    """

    def __init__(self, adapters_dir: Path, *, bundled: bool | None = None) -> None:
        self.adapters_dir = adapters_dir
        self.path = adapters_dir / "registry.json"
        if bundled is None:
            from shared.settings import Settings

            bundled = Settings().bundled_adapter
        self.bundled = bundled

    def load(self) -> RegistryState:
        if not self.path.exists():
            return bundled_state() if self.bundled else RegistryState()
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
