"""Overlapped records on the real broker: one key's records in order, nothing committed past a record not done.

MessageGuard handles up to ``partition_concurrency`` records of a partition at once (shared/consumer.py).
These tests run one subscriber made by ``shared.subscribe`` over the embedded Tansu broker and Redis with
records of several keys interleaved on one partition, handled with delays that would reorder them, and read
the group's committed offsets back from the broker.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.broker import ensure_topics
from shared.consumer import Delivery, TransientError
from shared.service import build_runtime
from shared.settings import Settings
from shared.subscribe import Subscription

pytestmark = pytest.mark.integration

KEYS = [f"thread-{n}" for n in range(5)]
RECORDS = 60


async def _send_interleaved(settings: Settings, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(RECORDS):
            key = KEYS[n % len(KEYS)]
            await producer.send_and_wait(topic, f"{key}:{n}".encode(), key=key.encode(), partition=0)
    finally:
        await producer.stop()


async def _committed(settings: Settings, topic: str, group: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def _run_subscriber(
    settings: Settings, topic: str, group: str, process: Callable[[Delivery], Awaitable[None]], finished: asyncio.Event
) -> None:
    """Run the subscriber until ``finished`` is set (at most a minute), then stop it (flushing its commits)."""
    runtime = build_runtime("overlap-test", settings)
    runtime.subscribe(Subscription(topic, group, title=topic, description="test"), process)
    await runtime.start()
    try:
        await asyncio.wait_for(finished.wait(), timeout=60)
    finally:
        await runtime.stop()


async def test_records_of_one_key_are_handled_in_order_and_all_committed(stack: Settings) -> None:
    settings = stack.model_copy(update={"partition_concurrency": 8, "commit_interval_ms": 50})
    topic, group = f"test.overlap.{uuid.uuid4().hex[:8]}", f"overlap-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    await _send_interleaved(settings, topic)
    seen: dict[str, list[int]] = defaultdict(list)
    in_flight, most_in_flight = 0, 0
    finished = asyncio.Event()

    async def process(delivery: Delivery) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(random.uniform(0, 0.01))  # later records would overtake earlier ones
        key, n = delivery.body.decode().split(":")
        seen[key].append(int(n))
        in_flight -= 1
        if sum(map(len, seen.values())) >= RECORDS:
            finished.set()

    await _run_subscriber(settings, topic, group, process, finished)
    for key in KEYS:
        assert seen[key] == sorted(seen[key]) == [n for n in range(RECORDS) if KEYS[n % len(KEYS)] == key], key
    assert most_in_flight > 1  # the records did overlap
    assert await _committed(settings, topic, group) == RECORDS


async def test_a_record_to_retry_is_not_committed_past_and_its_key_waits(stack: Settings) -> None:
    """The record at offset 20 fails twice (a dependency down): the records of its key after it must not be
    handled before it, and the group's committed offset never passes it before it is done."""
    settings = stack.model_copy(update={"partition_concurrency": 8, "commit_interval_ms": 0, "retry_backoff_s": 0.05})
    topic, group = f"test.overlap.{uuid.uuid4().hex[:8]}", f"overlap-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    await _send_interleaved(settings, topic)
    failing, failures = 20, 0
    done: set[int] = set()
    order: dict[str, list[int]] = defaultdict(list)
    committed_while_failing: list[int | None] = []
    finished = asyncio.Event()

    async def process(delivery: Delivery) -> None:
        nonlocal failures
        key, n = delivery.body.decode().split(":")
        if int(n) == failing and failures < 2:
            failures += 1
            committed_while_failing.append(await _committed(settings, topic, group))
            raise TransientError("store down")
        order[key].append(int(n))
        done.add(int(n))
        if len(done) >= RECORDS:
            finished.set()

    await _run_subscriber(settings, topic, group, process, finished)
    assert failures == 2 and done == set(range(RECORDS))
    assert all(offset is None or offset <= failing for offset in committed_while_failing)
    failing_key = KEYS[failing % len(KEYS)]
    first = order[failing_key].index(failing)
    assert all(n < failing for n in order[failing_key][:first])  # nothing of its key went before it
    assert await _committed(settings, topic, group) == RECORDS
