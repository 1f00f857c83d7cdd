"""The trainer's side of the adapter registry: shipping an adapter in the repository and announcing promotions.

The registry itself (``registry.json``, read by extract too) is :mod:`shared.registry`. The store key
``adapters:promoted`` (the AdapterEvent of the adapter in service) and the quoteflow.models.adapters topic
are how extract learns about a promotion. Promotions form a stack, so a rollback re-promotes the adapter
that served before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from shared import topics
from shared.consumer import publish_event
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.registry import (
    BUNDLED_ADAPTERS_DIR,
    BUNDLED_ENTRY,
    AdapterRegistry,
    RegistryError,
    RegistryState,
    bundled_state,
)
from shared.store import Store

__all__ = [
    "BUNDLED_ADAPTERS_DIR",
    "AdapterAnnouncer",
    "AdapterRegistry",
    "RegistryError",
    "RegistryState",
    "broker_publisher",
    "bundle_adapter",
    "bundled_state",
]

logger = logging.getLogger(__name__)


BUNDLED_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter.gguf", "training_report.json", "loss.png")


def bundle_adapter(registry: AdapterRegistry, adapter_id: str, into: Path = BUNDLED_ADAPTERS_DIR) -> Path:
    """Copy a registry adapter into the repository's ``models/adapters/<id>/`` (what a fresh checkout serves).

    Only a promoted adapter with a checked GGUF LoRA is shipped; its stage snapshots and scratch stay behind.
    The entry keeps the event and formats with paths relative to the folder.
    """
    import shutil

    state = registry.load()
    event = state.adapters.get(adapter_id)
    if event is None:
        raise RegistryError(f"adapter {adapter_id!r} is not in {registry.path}")
    formats = state.formats.get(adapter_id, {})
    if not event.promoted or not (formats.get("gguf") or {}).get("exported"):
        raise RegistryError(f"adapter {adapter_id!r} is not promoted with a checked GGUF LoRA: it is not shipped")
    source, target = Path(event.path), into / adapter_id
    target.mkdir(parents=True, exist_ok=True)
    for name in BUNDLED_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    relative = {
        name: {k: (Path(v).name if k in ("path", "config") and isinstance(v, str) else v) for k, v in record.items()}
        for name, record in formats.items()
    }
    entry = {"event": event.model_copy(update={"path": "."}).model_dump(mode="json"), "formats": relative}
    (target / BUNDLED_ENTRY).write_text(json.dumps(entry, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


Publish = Callable[[AdapterEvent], Awaitable[None]]


class AdapterAnnouncer:
    """Tells the pipeline: every run's event on quoteflow.models.adapters, the promoted one under adapters:promoted."""

    def __init__(self, store: Store, publish: Publish) -> None:
        self.store = store
        self.publish = publish

    async def announce(self, event: AdapterEvent) -> None:
        if event.promoted:
            await self.store.set(PROMOTED_ADAPTER_KEY, event.model_dump_json())
        await self.publish(event)

    async def reconcile(self, registry: AdapterRegistry) -> AdapterEvent | None:
        """At start-up: if the store does not name the registry's adapter in service, announce it again."""
        promoted = registry.promoted()
        if promoted is None:
            return None
        raw = await self.store.get(PROMOTED_ADAPTER_KEY)
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
