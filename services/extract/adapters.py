"""Keeps the promoted LoRA adapter id current in every extract worker.

Two sources, on purpose:

- the store key ``adapters:promoted`` (the AdapterEvent JSON the trainer writes when it
  promotes) is the truth: read on first use and re-read every ``llm_adapter_refresh_s``
  (by the service in the background too, so that it lands even when no thread arrives);
- ``quoteflow.models.adapters`` events make a promotion take effect at once. Every
  worker must see every event, so each worker subscribes with a consumer group of its
  own (``quoteflow-extract-adapters-<host>-<pid>-<random>``) starting at ``latest``: the
  history is not replayed (the store already holds its result), and an event missed
  between start-up and partition assignment is caught by the next store read.

A promoted event switches to its adapter; a not-promoted event for the adapter in
service rolls back to ``previous_adapter_id``; any other not-promoted event changes nothing.

With a :class:`AdapterSwitch` (the embedded llama-cpp-python server, which must be restarted
to load another adapter) a change is *wanted* first: the switch starts a server with the new
adapter in the background while the current one keeps answering, and only once it answers
does :attr:`AdapterState.adapter_id` (what the engine sends) change, in the same step as the
server requests go to. A switch that fails keeps the adapter in service. A pinned state
(``--adapter``, ``QUOTEFLOW_LLM_ADAPTER``) follows neither the store nor the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import ValidationError

from services.extract.settings import ExtractSettings
from shared import topics
from shared.consumer import Delivery, parse_event
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.service import ServiceRuntime
from shared.store import Store
from shared.subscribe import Subscription

logger = logging.getLogger(__name__)


class PreparedSwitch(Protocol):
    """A server ready with the wanted adapter: :meth:`commit` puts it in service (synchronously), or discard it."""

    def commit(self) -> None: ...

    async def discard(self) -> None: ...


class AdapterSwitch(Protocol):
    """Gets an adapter (None: the base model) onto the inference server before extract asks for it."""

    async def prepare(self, adapter_id: str | None) -> PreparedSwitch | None:
        """A prepared switch, or None when the adapter cannot be served (the switch says why)."""
        ...


@dataclass
class AdapterState:
    """The adapter extract should use now; ``None`` means the base model."""

    store: Store | None
    configured_id: str | None = None
    refresh_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    adapter_id: str | None = None
    source: str = "settings"
    event: AdapterEvent | None = None
    pinned: bool = False
    switch: AdapterSwitch | None = None
    wanted_id: str | None = None
    _loaded_at: float | None = field(default=None, repr=False)
    _wanted_from: tuple[str, AdapterEvent | None] = field(default=("settings", None), repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.adapter_id = self.configured_id
        self.wanted_id = self.configured_id
        self._wanted_from = (self.source, self.event)

    async def current(self) -> str | None:
        """The adapter id, re-reading the store when the last read is older than ``refresh_s``."""
        if (
            not self.pinned
            and self.store is not None
            and (self._loaded_at is None or self.clock() - self._loaded_at >= self.refresh_s)
        ):
            await self.refresh()
        return self.adapter_id

    async def refresh(self) -> None:
        """Read ``adapters:promoted``; a missing or malformed key keeps what we have (and says so)."""
        if self.store is None or self.pinned:
            return
        raw = await self.store.get(PROMOTED_ADAPTER_KEY)
        self._loaded_at = self.clock()
        if raw is None:
            return
        try:
            event = AdapterEvent.model_validate_json(raw)
        except ValidationError as exc:
            logger.error("ignoring malformed %s in the store: %s", PROMOTED_ADAPTER_KEY, str(exc)[:300])
            return
        if event.promoted and event.adapter_id != self.wanted_id:
            logger.info("promoted adapter from the store: %s (was %s)", event.adapter_id, self.wanted_id)
        if event.promoted:
            self._use(event.adapter_id, "store", event)

    def apply(self, event: AdapterEvent) -> bool:
        """Take an event from the adapters topic; True when the adapter wanted changed."""
        if self.pinned:
            logger.info("adapter event for %s ignored: the adapter is pinned to %s", event.adapter_id, self.adapter_id)
            return False
        before = self.wanted_id
        if event.promoted:
            self._use(event.adapter_id, "event", event)
        elif event.adapter_id == self.wanted_id:
            logger.warning(
                "adapter %s withdrawn (%s); back to %s", event.adapter_id, event.reason, event.previous_adapter_id
            )
            self._use(event.previous_adapter_id, "event", event)
        return self.wanted_id != before

    @property
    def switching(self) -> bool:
        """A switch to :attr:`wanted_id` is under way."""
        return self._task is not None and not self._task.done()

    async def settled(self) -> str | None:
        """Wait for a switch under way; the adapter in service then."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        return self.adapter_id

    def watch(self) -> None:
        """Re-read the store every ``refresh_s`` in the background too, so that a promotion whose event
        was missed lands within that time even when no thread arrives (the service starts this)."""
        if self.store is None or self.pinned or self._watcher is not None:
            return
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="adapter-watch")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Exception as exc:  # the store is down: the next read tries again
                logger.warning("reading %s failed: %s: %s", PROMOTED_ADAPTER_KEY, type(exc).__name__, exc)

    async def aclose(self) -> None:
        """Stop watching and a switch under way (its server is stopped by the switch)."""
        for task in (self._watcher, self._task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watcher = self._task = None

    def _use(self, adapter_id: str | None, source: str, event: AdapterEvent | None) -> None:
        self.wanted_id = adapter_id
        self._wanted_from = (source, event)
        if self.switch is None or adapter_id == self.adapter_id:
            self.adapter_id = adapter_id
            self.source = source
            self.event = event
            return
        if not self.switching:
            self._task = asyncio.get_running_loop().create_task(self._reconcile(), name="adapter-switch")

    async def _reconcile(self) -> None:
        """Switch until the adapter in service is the one wanted, or the switch refuses it."""
        assert self.switch is not None
        while self.wanted_id != self.adapter_id:
            target = self.wanted_id
            try:
                prepared = await self.switch.prepare(target)
            except Exception:
                logger.exception("switching to adapter %s failed; %s stays in service", target, self.adapter_id)
                return
            if prepared is None:
                return  # refused or failed: the switch said why; the adapter in service stays
            if self.wanted_id != target:  # wanted changed meanwhile (a rollback during a promotion)
                await prepared.discard()
                continue
            prepared.commit()
            self.adapter_id = target
            self.source, self.event = self._wanted_from
            logger.info("extract now uses adapter %s", target or "none (the base model)")


def worker_group_id() -> str:
    """A consumer group of this worker alone, so that every worker receives every adapter event."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"quoteflow-extract-adapters-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def register_adapter_updates(runtime: ServiceRuntime, settings: ExtractSettings, state: AdapterState) -> str:
    """Subscribe ``state`` to quoteflow.models.adapters; returns the worker's group id."""
    group_id = worker_group_id()

    async def process(delivery: Delivery) -> None:
        event = parse_event(AdapterEvent, delivery.body)
        if state.apply(event) and not state.switching:
            logger.info("extract now uses adapter %s", state.adapter_id)

    # A group of this worker alone, from the latest record: every worker hears of every promotion from now on
    # (what was promoted before, it reads from the store at start-up).
    subscription = Subscription(
        topics.MODELS_ADAPTERS,
        group_id,
        title="models.adapters",
        description="Trained LoRA adapters and the evaluation verdict; the promoted one is used for extraction.",
        start_from_latest=True,
    )
    runtime.subscribe(subscription, process)
    return group_id
