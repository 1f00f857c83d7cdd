"""Planning a batch of normalized threads: superseded versions, extractions, the budget (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka.structs import ConsumerRecord

from services.extract.burst import older, plan_batch, position
from shared.consumer import TENANT_HEADER
from shared.events import NormalizedMessage, NormalizedThread
from shared.topics import THREADS_NORMALIZED

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def thread(thread_id: str, version: int, *, tenant: str = "default", started_at: datetime | None = START) -> bytes:
    messages = [
        NormalizedMessage(
            message_id=f"{thread_id}-m{i}@example.com",
            sender_email="a@example.com",
            role="buyer",
            date=START + timedelta(hours=i),
            text=f"message {i}",
            content_hash=f"h{i}",
            arrival=i,
        )
        for i in range(version)
    ]
    body = NormalizedThread(
        thread_id=thread_id, tenant=tenant, version=version, messages=messages, started_at=started_at
    )
    return body.model_dump_json().encode()


class Batch:
    """Records as aiokafka hands them to a batch subscriber, offsets counted per partition."""

    def __init__(self) -> None:
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._next: dict[int, int] = {}

    def add(self, value: bytes, *, partition: int = 0, headers: list[tuple[str, bytes]] | None = None) -> int:
        offset = self._next.get(partition, 100)
        self._next[partition] = offset + 1
        self.records.append(
            ConsumerRecord(
                topic=THREADS_NORMALIZED,
                partition=partition,
                offset=offset,
                timestamp=0,
                timestamp_type=0,
                key=None,
                value=value,
                checksum=None,
                serialized_key_size=0,
                serialized_value_size=len(value),
                headers=headers or [],
            )
        )
        return offset


def where(partition: int, offset: int) -> tuple[str, int, int]:
    return (THREADS_NORMALIZED, partition, offset)


def test_only_the_newest_version_of_a_thread_is_extracted() -> None:
    batch = Batch()
    v1, other, v2, v3 = (
        batch.add(thread("t-a", 1)),
        batch.add(thread("t-b", 4)),
        batch.add(thread("t-a", 2)),
        batch.add(thread("t-a", 3)),
    )
    plan = plan_batch(batch.records, max_extractions=100)
    assert plan.now == batch.records and plan.handed_back == []
    assert plan.superseded == {where(0, v1): where(0, v3), where(0, v2): where(0, v3)}
    assert sorted(plan.threads) == [where(0, other), where(0, v3)]
    assert plan.threads[where(0, v3)].version == 3
    assert plan.extractions == 2


def test_tenants_partitions_and_restarted_threads_are_told_apart() -> None:
    batch = Batch()
    a1 = batch.add(thread("t-a", 1, tenant="acme"))
    b1 = batch.add(thread("t-a", 1, tenant="globex"))  # same thread id, another tenant: not a version of it
    p1 = batch.add(thread("t-a", 1, tenant="acme"), partition=1)  # another partition: left alone
    old = batch.add(thread("t-r", 7))
    restarted = batch.add(thread("t-r", 1, started_at=START + timedelta(days=40)))  # state expired: newer
    late_old = batch.add(thread("t-r", 9))  # an old start's version arriving late: older than the restart
    a2 = batch.add(thread("t-a", 2, tenant="acme"))
    plan = plan_batch(batch.records, max_extractions=100)
    assert plan.superseded == {
        where(0, a1): where(0, a2),
        where(0, old): where(0, restarted),
        where(0, late_old): where(0, restarted),
    }
    assert sorted(plan.threads) == sorted([where(0, b1), where(1, p1), where(0, restarted), where(0, a2)])


def test_older_follows_quote_order() -> None:
    def t(version: int, started_at: datetime | None) -> NormalizedThread:
        return NormalizedThread.model_validate_json(thread("t", version, started_at=started_at))

    assert older(t(1, START), t(2, START)) and not older(t(2, START), t(2, START))
    assert older(t(9, START), t(1, START + timedelta(days=1)))
    assert older(t(1, None), t(2, START)) and not older(t(3, START), t(2, None))  # a missing start: versions decide
    naive = START.replace(tzinfo=None)
    assert not older(t(1, naive), t(1, START))  # a naive time is read as UTC


def test_an_equal_version_later_in_the_partition_wins() -> None:
    batch = Batch()
    first, again = batch.add(thread("t-a", 2)), batch.add(thread("t-a", 2))
    plan = plan_batch(batch.records, max_extractions=100)
    assert plan.superseded == {where(0, first): where(0, again)} and list(plan.threads) == [where(0, again)]


def test_records_the_guard_dead_letters_supersede_nothing() -> None:
    batch = Batch()
    valid = batch.add(thread("t-a", 1))
    batch.add(b"{not json")
    batch.add(b'{"schema_version": 1, "thread_id": "t-a", "version": 5}')  # no messages: invalid
    batch.add(thread("t-a", 6), headers=[(TENANT_HEADER, b"\xff")])  # unreadable header: the guard refuses it
    plan = plan_batch(batch.records, max_extractions=100)
    assert plan.superseded == {}
    assert list(plan.threads) == [where(0, valid)]
    assert plan.now == batch.records  # all handled: the bad ones go to the DLQ


def test_past_the_budget_the_rest_of_a_partition_is_handed_back() -> None:
    batch = Batch()
    a1 = batch.add(thread("t-a", 1))
    b1 = batch.add(thread("t-b", 1))
    poison = batch.add(b"[]")
    a2 = batch.add(thread("t-a", 2))
    c1 = batch.add(thread("t-c", 1))
    plan = plan_batch(batch.records, max_extractions=1)
    # a1 costs nothing (a2 supersedes it), b1 is the one extraction, the poison record is cheap, a2 is
    # past the budget: from there the partition is fetched again.
    assert [position(r) for r in plan.now] == [where(0, a1), where(0, b1), where(0, poison)]
    assert [position(r) for r in plan.handed_back] == [where(0, a2), where(0, c1)]
    assert plan.superseded == {where(0, a1): where(0, a2)}  # still skipped: a2 comes again, uncommitted
    assert list(plan.threads) == [where(0, b1)]


def test_a_burst_of_one_thread_costs_one_extraction_of_the_budget() -> None:
    batch = Batch()
    offsets = [batch.add(thread("t-a", v)) for v in range(1, 8)]
    plan = plan_batch(batch.records, max_extractions=1)
    assert plan.now == batch.records and plan.handed_back == []
    assert list(plan.threads) == [where(0, offsets[-1])] and len(plan.superseded) == 6


def test_partitions_take_turns_at_the_budget() -> None:
    batch = Batch()
    batch.add(thread("t-a", 1), partition=0)
    batch.add(thread("t-b", 1), partition=1)
    first = plan_batch(batch.records, max_extractions=1, first_partition=0)
    second = plan_batch(batch.records, max_extractions=1, first_partition=1)
    assert [r.partition for r in first.now] == [0] and [r.partition for r in first.handed_back] == [1]
    assert [r.partition for r in second.now] == [1] and [r.partition for r in second.handed_back] == [0]
