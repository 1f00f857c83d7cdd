"""MessageGuard runs a batch record by record: in order per key within a partition, rewinding at a failure.

Every test runs with the partition handled strictly in order (concurrency 1) and with records overlapping
(concurrency 4): records without a key share one key, so both must behave alike on them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.consumer import Delivery, MessageGuard, OffsetCommitter, PermanentError, TransientError
from shared.settings import Settings


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 0


@dataclass(eq=False)
class FakeConsumer:
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", p) for p in range(3)}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    @property
    def committed(self) -> dict[TopicPartition, int]:
        merged: dict[TopicPartition, int] = {}
        for commit in self.commits:
            merged.update(commit)
        return merged


@dataclass
class Batch:
    """What faststream hands a batch subscriber: the records and the consumer they came from."""

    raw_message: tuple[Record, ...]
    consumer: FakeConsumer


@dataclass(eq=False)
class FakeBroker:
    published: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, *, key: bytes | None, headers: dict[str, str]) -> None:
        self.published.append((topic, body, headers))


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(params=[1, 4], ids=["in-order", "overlapped"])
def concurrency(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


def make_guard(broker: FakeBroker, exporter: InMemorySpanExporter, concurrency: int = 1) -> MessageGuard:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(commit_interval_ms=0, retry_backoff_s=0, retry_backoff_max_s=0, max_attempts=2)
    committer = OffsetCommitter(settings.commit_interval_ms / 1000)
    return MessageGuard(
        broker,  # type: ignore[arg-type]
        settings,
        "t",
        provider.get_tracer("test"),
        group_id="g",
        committer=committer,
        concurrency=concurrency,
    )


async def run(guard: MessageGuard, records: list[Record], process: Any) -> FakeConsumer:
    consumer = FakeConsumer()
    await guard.run_batch(Batch(tuple(records), consumer), process)  # type: ignore[arg-type]
    await guard.committer.flush()
    return consumer


async def test_partitions_in_order_and_commits_what_is_done(exporter: InMemorySpanExporter, concurrency: int) -> None:
    seen: list[bytes] = []

    async def process(delivery: Delivery) -> None:
        await asyncio.sleep(0)
        seen.append(delivery.body)

    records = [Record("t", p, o, f"{p}-{o}".encode()) for o in range(3) for p in range(2)]
    consumer = await run(make_guard(FakeBroker(), exporter, concurrency), records, process)
    for partition in range(2):
        assert [s for s in seen if s.startswith(f"{partition}-".encode())] == [
            f"{partition}-{o}".encode() for o in range(3)
        ]
    assert consumer.seeks == []
    assert consumer.committed == {TopicPartition("t", 0): 3, TopicPartition("t", 1): 3}
    assert len(exporter.get_finished_spans()) == 6


async def test_transient_failure_rewinds_its_partition_only(exporter: InMemorySpanExporter, concurrency: int) -> None:
    seen: list[bytes] = []

    async def process(delivery: Delivery) -> None:
        if delivery.body == b"0-1":
            raise TransientError("redis down")
        seen.append(delivery.body)

    records = [Record("t", p, o, f"{p}-{o}".encode()) for p in range(2) for o in range(3)]
    consumer = await run(make_guard(FakeBroker(), exporter, concurrency), records, process)
    assert sorted(seen) == [b"0-0", b"1-0", b"1-1", b"1-2"]
    assert consumer.seeks == [(TopicPartition("t", 0), 1)]
    assert consumer.committed == {TopicPartition("t", 0): 1, TopicPartition("t", 1): 3}


async def test_bad_record_is_dead_lettered_and_the_rest_goes_on(
    exporter: InMemorySpanExporter, concurrency: int
) -> None:
    broker = FakeBroker()

    async def process(delivery: Delivery) -> None:
        if delivery.body == b"bad":
            raise PermanentError("invalid JSON")

    records = [Record("t", 0, 0, b"ok"), Record("t", 0, 1, b"bad"), Record("t", 0, 2, b"ok")]
    consumer = await run(make_guard(broker, exporter, concurrency), records, process)
    assert [(topic, body) for topic, body, _ in broker.published] == [("t.dlq", b"bad")]
    assert broker.published[0][2]["x-quoteflow-dlq-error-message"] == "invalid JSON"
    assert consumer.seeks == []
    assert consumer.committed == {TopicPartition("t", 0): 3}


async def test_a_bug_is_retried_then_dead_lettered(exporter: InMemorySpanExporter, concurrency: int) -> None:
    broker = FakeBroker()
    guard = make_guard(broker, exporter, concurrency)

    async def process(delivery: Delivery) -> None:
        raise ValueError("bug")

    record = Record("t", 0, 7, b"x")
    first = await run(guard, [record], process)
    assert first.seeks == [(TopicPartition("t", 0), 7)] and broker.published == []
    second = await run(guard, [record], process)
    assert second.seeks == [] and [t for t, _, _ in broker.published] == ["t.dlq"]


async def test_each_record_continues_its_own_trace(exporter: InMemorySpanExporter, concurrency: int) -> None:
    provider = TracerProvider()
    upstream = provider.get_tracer("upstream")
    headers = []
    for _ in range(2):
        with upstream.start_as_current_span("publish"):
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
            headers.append(tuple((k, v.encode()) for k, v in carrier.items()))
    records = [Record("t", 0, i, b"x", headers=h) for i, h in enumerate(headers)]

    async def process(delivery: Delivery) -> None:
        return None

    await run(make_guard(FakeBroker(), exporter, concurrency), records, process)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["t process", "t process"]
    assert len({s.context.trace_id for s in spans}) == 2
    assert all(s.parent is not None for s in spans)
    assert spans[0].attributes and spans[0].attributes["messaging.kafka.message.offset"] == 0


async def test_record_with_unreadable_header_is_dead_lettered_with_the_reason(
    exporter: InMemorySpanExporter, concurrency: int
) -> None:
    broker = FakeBroker()
    seen: list[bytes] = []

    async def process(delivery: Delivery) -> None:
        seen.append(delivery.body)

    records = [
        Record("t", 0, 0, b"ok-0"),
        Record("t", 0, 1, b"bad", headers=(("x-note", b"\xfe\xff"),)),
        Record("t", 0, 2, b"ok-2", headers=(("x-empty", None),)),  # type: ignore[arg-type]
    ]
    consumer = await run(make_guard(broker, exporter, concurrency), records, process)
    assert seen == [b"ok-0", b"ok-2"]
    assert [(topic, body) for topic, body, _ in broker.published] == [("t.dlq", b"bad")]
    reason = broker.published[0][2]["x-quoteflow-dlq-error-message"]
    assert reason.startswith("header 'x-note' is not valid UTF-8")
    assert broker.published[0][2]["x-note"] == "\ufffd\ufffd"
    assert consumer.committed == {TopicPartition("t", 0): 3}


def keyed(partition: int, offset: int, key: str) -> Record:
    return Record("t", partition, offset, f"{key}-{offset}".encode(), key=key.encode())


async def test_records_of_one_key_stay_in_order_while_other_keys_overlap(exporter: InMemorySpanExporter) -> None:
    running, most_at_once = 0, 0
    seen: list[bytes] = []

    async def process(delivery: Delivery) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.001 * (3 - delivery.record.offset % 3))  # later records would finish first
        seen.append(delivery.body)
        running -= 1

    records = [keyed(0, offset, "ab"[offset % 2]) for offset in range(12)]
    consumer = await run(make_guard(FakeBroker(), exporter, concurrency=3), records, process)
    for key in "ab":
        assert [s for s in seen if s.startswith(key.encode())] == [
            f"{key}-{o}".encode() for o in range(12) if "ab"[o % 2] == key
        ]
    assert most_at_once == 2  # two keys: never more than one record of each at once
    assert consumer.seeks == [] and consumer.committed == {TopicPartition("t", 0): 12}
    assert len(exporter.get_finished_spans()) == 12


async def test_no_more_records_in_flight_than_the_concurrency(exporter: InMemorySpanExporter) -> None:
    running, most_at_once = 0, 0

    async def process(delivery: Delivery) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.001)
        running -= 1

    records = [keyed(0, offset, f"k{offset}") for offset in range(20)]
    consumer = await run(make_guard(FakeBroker(), exporter, concurrency=5), records, process)
    assert most_at_once == 5
    assert consumer.committed == {TopicPartition("t", 0): 20}


async def test_a_retry_rewinds_to_the_first_record_not_done_and_commits_only_below_it(
    exporter: InMemorySpanExporter,
) -> None:
    """Offset 2 fails (transient): its key's next record must not run before it, no new record starts, the
    partition goes back to 2 and only offsets 0-1 are committed, although later records of other keys that
    were already in flight finished (they run again after the rewind, idempotently)."""
    started: list[int] = []
    finished: list[int] = []

    async def process(delivery: Delivery) -> None:
        offset = delivery.record.offset
        started.append(offset)
        if offset == 2:
            raise TransientError("redis down")
        await asyncio.sleep(0.002)
        finished.append(offset)

    keys = ["a", "b", "c", "d", "c", "e", "f", "g"]
    records = [keyed(0, offset, key) for offset, key in enumerate(keys)]
    consumer = await run(make_guard(FakeBroker(), exporter, concurrency=4), records, process)
    assert 4 not in started  # same key as the failed record
    assert max(started) < 7  # nothing new once the failure was seen
    assert {0, 1, 3} <= set(finished)
    assert consumer.seeks == [(TopicPartition("t", 0), 2)]
    assert consumer.committed == {TopicPartition("t", 0): 2}


async def test_cancelled_batch_hands_back_every_record_not_done(exporter: InMemorySpanExporter) -> None:
    release = asyncio.Event()

    async def process(delivery: Delivery) -> None:
        if delivery.record.offset >= 1:
            await release.wait()

    records = [keyed(0, offset, f"k{offset}") for offset in range(4)]
    consumer = FakeConsumer()
    guard = make_guard(FakeBroker(), exporter, concurrency=4)
    task = asyncio.create_task(guard.run_batch(Batch(tuple(records), consumer), process))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await guard.committer.flush()
    assert consumer.seeks == [(TopicPartition("t", 0), 1)]
    assert consumer.committed == {TopicPartition("t", 0): 1}
