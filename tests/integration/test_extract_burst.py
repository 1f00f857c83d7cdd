"""One extraction per burst, on the real embedded broker and Redis.

Several versions of one thread published before extract starts arrive in one fetched batch:
only the newest is extracted and published, the older ones (and a poison record among them,
dead-lettered) are committed, so a restarted service gets nothing of them again (a restart
itself is not run: a new member's join takes Tansu 15-20 s after the old one left). With the LLM
engine's budget of one extraction per batch, the records past it are fetched again, in order.

The engine is a small real class (the rules engine, counting the threads it is given).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import generate_latest

from services.extract.engine import Extraction
from services.extract.handlers import EXTRACT_GROUP
from services.extract.main import build_service
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from shared import topics
from shared.broker import ensure_topics
from shared.events import FactsExtracted, NormalizedMessage, NormalizedThread
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.conftest import running_stack

pytestmark = pytest.mark.integration

START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TEXTS = [
    ("buyer", "buyer@acme.example", "Please quote 200 pcs of ball valve DN50."),
    ("supplier", "sales@valves.example", "Ball valve DN50: USD 12.50 per piece, lead time 3 weeks."),
    ("buyer", "buyer@acme.example", "Could you do USD 11.80 for 300 pcs?"),
    ("supplier", "sales@valves.example", "For 300 pcs we can offer USD 12.00 per piece."),
]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Settings]:
    """A broker and Redis of this test's own: consumer-group offsets start from nothing."""
    yield from running_stack(tmp_path)


def version(thread_id: str, count: int) -> NormalizedThread:
    """The thread after its first ``count`` messages."""
    messages = [
        NormalizedMessage(
            message_id=f"{thread_id}-{i}@example.com",
            in_reply_to=f"{thread_id}-{i - 1}@example.com" if i else None,
            sender_email=email,
            role=role,  # type: ignore[arg-type]
            date=START + timedelta(hours=i),
            subject="Ball valves DN50",
            text=text,
            content_hash=f"{thread_id}-h{i}",
            arrival=i,
        )
        for i, (role, email, text) in enumerate(TEXTS[:count])
    ]
    return NormalizedThread(
        thread_id=thread_id, version=count, subject="Ball valves DN50", messages=messages, started_at=START
    )


class CountingEngine:
    """The rules engine, remembering which thread versions it was asked to extract."""

    name = "rules"

    def __init__(self) -> None:
        self.rules = RulesEngine()
        self.seen: list[tuple[str, int]] = []

    async def extract(self, thread: NormalizedThread) -> Extraction:
        self.seen.append((thread.thread_id, thread.version))
        return await self.rules.extract(thread)


async def publish(settings: Settings, records: list[tuple[str, bytes]]) -> None:
    """All to partition 0 of threads.normalized, in this order (keys as ingest sets them)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topics.THREADS_NORMALIZED, value, key=key.encode(), partition=0)
    finally:
        await producer.stop()


async def read(settings: Settings, topic: str, count: int, timeout_s: float = 60) -> list[Any]:
    """``count`` records of ``topic`` from the beginning, then half a second more for any extra one."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(part)
        for part in (await consumer.getmany(timeout_ms=500)).values():
            found.extend(part)
    finally:
        await consumer.stop()
    return found


async def committed(settings: Settings) -> int | None:
    """extract's committed offset on partition 0."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=EXTRACT_GROUP)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topics.THREADS_NORMALIZED, 0))
    finally:
        await consumer.stop()


def settings_for(stack: Settings, **overrides: Any) -> ExtractSettings:
    return ExtractSettings(**{**stack.model_dump(), "kafka_partitions": 1, "commit_interval_ms": 0, **overrides})


async def run_until(runtime: ServiceRuntime, stack: Settings, events: int, offset: int) -> list[FactsExtracted]:
    """Run the service until ``events`` facts are out and its offset is committed up to ``offset``."""
    await runtime.start()
    try:
        records = await read(stack, topics.FACTS_EXTRACTED, events)
        for _ in range(100):  # the commit follows the last record's event
            if await committed(stack) == offset:
                break
            await asyncio.sleep(0.1)
    finally:
        await runtime.stop()
    return [FactsExtracted.model_validate_json(r.value) for r in records]


def metric(runtime: ServiceRuntime, name: str) -> float:
    for line in generate_latest(runtime.metrics.registry).decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_burst_of_versions_is_extracted_once_and_committed_past_all(stack: Settings) -> None:
    settings = settings_for(stack)
    await ensure_topics(settings, topics.ALL_TOPICS)
    burst = [("t-valves", version("t-valves", n).model_dump_json().encode()) for n in (1, 2, 3)]
    await publish(stack, [burst[0], ("t-valves", b'{"schema_version": 1, "thread_id": "t-valves"}'), *burst[1:]])

    engine = CountingEngine()
    runtime = build_service(settings, engine=engine)
    events = await run_until(runtime, stack, 1, offset=4)

    assert engine.seen == [("t-valves", 3)]
    assert [(e.thread_id, e.thread_version) for e in events] == [("t-valves", 3)]
    assert metric(runtime, "quoteflow_extract_superseded_total") == 2
    dead = await read(stack, topics.dlq(topics.THREADS_NORMALIZED), 1)
    assert len(dead) == 1 and dead[0].value == b'{"schema_version": 1, "thread_id": "t-valves"}'
    # Committed past all four records: a restarted extract starts after them (the group's offset, not
    # auto_offset_reset, decides), so nothing of the burst is extracted again.
    assert await committed(stack) == 4


async def test_past_the_llm_budget_the_rest_of_the_batch_is_fetched_again(stack: Settings) -> None:
    """One extraction per batch (llm engine, 140 s budget in a 300 s poll interval): a burst of one thread
    still costs one, and the threads after it each get a batch of their own, in order, none lost."""
    settings = settings_for(stack, engine="llm", llm_url="http://127.0.0.1:9", llm_total_budget_s=140)
    assert settings.records_per_batch() == 1 and settings.consumer_batch_max == 100
    await ensure_topics(settings, topics.ALL_TOPICS)
    records = [("t-a", version("t-a", n).model_dump_json().encode()) for n in (1, 2, 3)]
    records += [("t-b", version("t-b", 1).model_dump_json().encode()), ("t-c", b"[]")]
    records += [("t-a", version("t-a", 4).model_dump_json().encode())]
    records += [("t-d", version("t-d", 2).model_dump_json().encode())]
    await publish(stack, records)

    engine = CountingEngine()
    runtime = build_service(settings, engine=engine)
    events = await run_until(runtime, stack, 3, offset=len(records))

    # t-a v1..v3 are superseded by v4 (later in the partition, in another batch): skipped, not extracted.
    assert engine.seen == [("t-b", 1), ("t-a", 4), ("t-d", 2)]
    assert [(e.thread_id, e.thread_version) for e in events] == [("t-b", 1), ("t-a", 4), ("t-d", 2)]
    assert metric(runtime, "quoteflow_extract_superseded_total") == 3
    assert len(await read(stack, topics.dlq(topics.THREADS_NORMALIZED), 1)) == 1
    assert await committed(stack) == len(records)
