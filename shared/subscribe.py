"""The one way a QuoteFlow service consumes a topic.

``subscribe`` registers a batch subscriber whose records go through :class:`~shared.consumer.MessageGuard`
(per-record trace, retries, dead letters, in order per partition) and whose offsets
:class:`~shared.consumer.OffsetCommitter` commits only once each record's effect is done. The committer and
the metrics belong to the service (its :class:`~shared.service.ServiceRuntime`) and are passed in, so a
service's subscribers share one committer it flushes on shutdown. What a service writes is only
``process``: what one record means. That function is plain async code over a
:class:`~shared.consumer.Delivery`, testable without a broker.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import Tracer

from shared.broker import subscriber_options
from shared.consumer import MessageGuard, OffsetCommitter, Process, batch_records
from shared.ops import Metrics
from shared.settings import Settings


@dataclass(frozen=True)
class Subscription:
    """What a service consumes and as whom: the topic, the consumer group, and its AsyncAPI description."""

    topic: str
    group_id: str
    title: str
    description: str
    start_from_latest: bool = False
    """Only records published after the group first joins (a per-worker group for live notifications);
    otherwise a new group reads the topic from the beginning, so nothing published before it is missed."""


@dataclass
class BatchSelection:
    """Which records of a fetched batch to handle now and how; the rest are fetched again later."""

    now: Sequence[Any]
    later: Sequence[Any]
    process: Process


Planner = Callable[[list[Any]], Awaitable[BatchSelection]]
"""Looks at a whole fetched batch before any record of it is handled (ingest: decode small mails in one
worker-thread hop; extract: skip superseded versions, keep the LLM's time budget)."""


def subscribe(
    broker: KafkaBroker,
    subscription: Subscription,
    process: Process | None = None,
    *,
    settings: Settings,
    tracer: Tracer,
    metrics: Metrics | None,
    committer: OffsetCommitter,
    planner: Planner | None = None,
    router: Any = None,
    concurrency: int | None = None,
) -> MessageGuard:
    """Consume ``subscription.topic``, handing each record to ``process`` (or, with a ``planner``, each fetched
    batch first to the planner, which says which records to handle and how); returns the subscriber's guard.

    ``broker`` publishes the dead letters; ``router`` (a faststream FastAPI ``KafkaRouter`` on that broker)
    is where the subscriber is registered instead of the broker itself, for a service that is a web app.
    ``concurrency`` (records of one partition in flight, same key in order) defaults to
    ``settings.partition_concurrency``.
    """
    if (process is None) == (planner is None):
        raise ValueError("subscribe takes either process or planner")
    guard = MessageGuard(
        broker,
        settings,
        subscription.topic,
        tracer,
        group_id=subscription.group_id,
        metrics=metrics,
        committer=committer,
        concurrency=settings.partition_concurrency if concurrency is None else concurrency,
    )
    options = subscriber_options(settings, group_id=subscription.group_id)
    if subscription.start_from_latest:
        options["auto_offset_reset"] = "latest"

    async def run(msg: Any) -> None:
        if process is not None:
            await guard.run_batch(msg, process)
            return
        assert planner is not None
        selection = await planner(batch_records(msg))
        if selection.later:
            guard.hand_back(msg, selection.later)
        await guard.run_batch(msg, selection.process, records=selection.now)

    if router is not None:
        with warnings.catch_warnings():  # faststream 0.7 announces the integration's move to faststream_fastapi
            warnings.simplefilter("ignore", DeprecationWarning)
            from faststream.kafka.fastapi import KafkaMessage as RoutedMessage

        async def on_routed_batch(msg: RoutedMessage) -> None:
            await run(msg)

        on_routed_batch.__name__ = handler_name(subscription)
        # FastAPI resolves annotations in the module's globals, where this local import is not: give it the type.
        on_routed_batch.__annotations__ = {"msg": RoutedMessage, "return": None}
        router.subscriber(
            subscription.topic, title=subscription.title, description=subscription.description, **options
        )(on_routed_batch)
        return guard

    async def on_batch(bodies: list[bytes], msg: KafkaMessage) -> None:
        await run(msg)

    on_batch.__name__ = handler_name(subscription)
    broker.subscriber(subscription.topic, title=subscription.title, description=subscription.description, **options)(
        on_batch
    )
    return guard


def handler_name(subscription: Subscription) -> str:
    """The handler's name in logs and AsyncAPI: ``on_<topic title>`` (``on_threads_normalized``)."""
    return "on_" + "".join(c if c.isalnum() else "_" for c in subscription.title)
