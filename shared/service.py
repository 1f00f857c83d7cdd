"""What every service is made of: settings, broker, store and telemetry, started and stopped together.

A service's ``main.py`` builds a :class:`ServiceRuntime` and registers its handlers
on the runtime's broker; the same runtime then runs alone (``quoteflow serve X``,
a FastStream app) or beside the others in one process (``quoteflow run``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from shared.broker import build_broker, ensure_topics
from shared.consumer import MessageGuard, OffsetCommitter, Process
from shared.ops import Metrics, OpsServer, build_metrics, update_consumer_lag
from shared.publish import EventProducer, EventPublisher
from shared.settings import Settings
from shared.store import Store, build_store
from shared.subscribe import Planner, Subscription, subscribe
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
    metrics: Metrics
    committer: OffsetCommitter
    """Commits the offsets of every subscriber of the service once their records are done."""
    events: EventProducer = field(init=False)
    """The producer of the service's events (:mod:`shared.publish`), started and stopped with the service."""
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    started: bool = False
    ops: OpsServer | None = None

    def __post_init__(self) -> None:
        self.events = EventProducer(self.settings)

    def publisher(self, topic: str, *, title: str, description: str, schema: type[BaseModel]) -> EventPublisher:
        """Where a handler publishes ``topic``'s events: the service's producer, traced and counted (and the topic
        registered on the broker for the AsyncAPI documents)."""
        return EventPublisher(
            self.broker,
            topic,
            title=title,
            description=description,
            schema=schema,
            producer=self.events,
            tracer=self.telemetry.tracer,
            metrics=self.metrics,
        )

    async def start(self) -> None:
        """Topics, ops endpoints, then consumers (readiness turns true once they run)."""
        await self._before_start()
        await self.broker.start()
        self.started = True
        logger.info("%s started on %s", self.name, self.settings.kafka_bootstrap)

    async def stop(self) -> None:
        """Stop consuming first (in-flight handlers finish), then close the store and flush traces."""
        if self.started:
            await self.committer.close()
            await self.broker.stop()
            self.started = False
        await self._after_stop()

    def subscribe(
        self,
        subscription: Subscription,
        process: Process | None = None,
        *,
        planner: Planner | None = None,
        router: Any = None,
        concurrency: int | None = None,
    ) -> MessageGuard:
        """Consume a topic with this service's broker, settings, tracer, metrics and committer
        (:func:`shared.subscribe.subscribe`)."""
        return subscribe(
            self.broker,
            subscription,
            process,
            settings=self.settings,
            tracer=self.telemetry.tracer,
            metrics=self.metrics,
            committer=self.committer,
            planner=planner,
            router=router,
            concurrency=concurrency,
        )

    def app(self) -> FastStream:
        """The FastStream application for running this service alone (SIGTERM stops it gracefully)."""
        return FastStream(
            self.broker,
            on_startup=[self._before_start],
            on_shutdown=[self._flush_commits],
            after_startup=[self._mark_started],
            after_shutdown=[self._after_stop],
        )

    async def _flush_commits(self) -> None:
        await self.committer.close()

    async def _mark_started(self) -> None:
        self.started = True

    async def _before_start(self) -> None:
        if self.settings.kafka_create_topics:
            await ensure_topics(self.settings, ALL_TOPICS)
        for hook in self.on_start:
            await hook()
        await self.events.start()
        if self.settings.ops_port is not None and self.ops is None:
            self.ops = OpsServer(
                self.name,
                self.metrics,
                readiness=self.ready,
                before_scrape=lambda: update_consumer_lag(self.broker, self.name, self.metrics),
            )
            await self.ops.start(self.settings.ops_host, self.settings.ops_port)

    async def _after_stop(self) -> None:
        self.started = False
        await self.events.stop()
        for hook in self.on_stop:
            await hook()
        if self.ops is not None:
            await self.ops.stop()
            self.ops = None
        await self.store.close()
        self.telemetry.shutdown()

    async def ready(self) -> bool:
        """Consumers running and the store answering."""
        return self.started and await self.store.ping()


def build_runtime(
    name: str,
    settings: Settings,
    *,
    store: Store | None = None,
    telemetry: Telemetry | None = None,
) -> ServiceRuntime:
    """Broker, store and telemetry for one service; any of them may be given instead."""
    telemetry = telemetry or build_telemetry(settings)
    metrics = build_metrics(name)
    return ServiceRuntime(
        name=name,
        settings=settings,
        broker=build_broker(settings, telemetry, metrics),
        store=store or build_store(settings),
        telemetry=telemetry,
        metrics=metrics,
        committer=OffsetCommitter(settings.commit_interval_ms / 1000),
    )


def module_app(build_service: Callable[[], ServiceRuntime]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that gives a service's ``main`` module faststream's module-level ``app``.

    ``faststream run services.ingest.main:app`` (and faststream's other tooling) finds the FastStream
    application where faststream's examples keep it. It is built on first access, from the environment
    (QUOTEFLOW_KAFKA_BOOTSTRAP, QUOTEFLOW_REDIS_URL, ...), not at import: importing a service's code
    (tests, ``quoteflow run``, the trainer's evaluation) must not need a broker address.
    """
    built: list[FastStream] = []

    def __getattr__(name: str) -> Any:  # the module attribute hook (PEP 562)
        if name != "app":
            raise AttributeError(name)
        if not built:
            built.append(build_service().app())
        return built[0]

    return __getattr__
