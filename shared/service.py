"""What every service is made of: settings, broker, store and telemetry, started and stopped together.

A service's ``main.py`` builds a :class:`ServiceRuntime` and registers its handlers
on the runtime's broker; the same runtime then runs alone (``quoteflow serve X``,
a FastStream app) or beside the others in one process (``quoteflow run``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from faststream import FastStream
from faststream.kafka import KafkaBroker

from shared.broker import build_broker, ensure_topics
from shared.settings import Settings
from shared.store import Store, build_store
from shared.telemetry import Telemetry, build_telemetry
from shared.topics import ALL_TOPICS

logger = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """A running service's parts. Dependencies are passed in, so tests can swap any of them."""

    name: str
    settings: Settings
    broker: KafkaBroker
    store: Store
    telemetry: Telemetry
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    started: bool = False

    async def start(self) -> None:
        if self.settings.kafka_create_topics:
            await ensure_topics(self.settings, ALL_TOPICS)
        await self.broker.start()
        self.started = True
        logger.info("%s started on %s", self.name, self.settings.kafka_bootstrap)

    async def stop(self) -> None:
        """Stop consuming first (in-flight handlers finish), then close the store and flush traces."""
        if self.started:
            await self.broker.stop()
            self.started = False
        for hook in self.on_stop:
            await hook()
        await self.store.close()
        self.telemetry.shutdown()

    def app(self) -> FastStream:
        """The FastStream application for running this service alone."""
        return FastStream(self.broker, on_startup=[self._ensure_topics], after_shutdown=[self._close])

    async def _ensure_topics(self) -> None:
        if self.settings.kafka_create_topics:
            await ensure_topics(self.settings, ALL_TOPICS)

    async def _close(self) -> None:
        for hook in self.on_stop:
            await hook()
        await self.store.close()
        self.telemetry.shutdown()


def build_runtime(
    name: str,
    settings: Settings,
    *,
    store: Store | None = None,
    telemetry: Telemetry | None = None,
) -> ServiceRuntime:
    """Broker, store and telemetry for one service; any of them may be given instead."""
    telemetry = telemetry or build_telemetry(settings)
    return ServiceRuntime(
        name=name,
        settings=settings,
        broker=build_broker(settings, telemetry),
        store=store or build_store(settings),
        telemetry=telemetry,
    )
