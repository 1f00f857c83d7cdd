"""Offsets are committed per consumer, only for processed records and owned partitions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from shared.consumer import OffsetCommitter


@dataclass
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class FakeConsumer:
    owned: set[TopicPartition]
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    fail: bool = False

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail:
            raise CommitFailedError("rebalanced")
        self.commits.append(dict(offsets))

    def __hash__(self) -> int:
        return id(self)


async def test_commits_next_offset_per_consumer_after_the_interval() -> None:
    a = FakeConsumer({TopicPartition("t", 0)})
    b = FakeConsumer({TopicPartition("t", 1)})
    committer = OffsetCommitter(interval_s=0.05)
    await committer.processed(a, Record("t", 0, 4))
    await committer.processed(b, Record("t", 1, 9))
    await committer.processed(a, Record("t", 0, 5))
    assert a.commits == [] and b.commits == []
    await asyncio.sleep(0.15)
    assert a.commits == [{TopicPartition("t", 0): 6}]
    assert b.commits == [{TopicPartition("t", 1): 10}]


async def test_partitions_no_longer_owned_are_not_committed() -> None:
    consumer = FakeConsumer({TopicPartition("t", 0)})
    committer = OffsetCommitter(interval_s=0)
    await committer.processed(consumer, Record("t", 2, 1))
    assert consumer.commits == []


async def test_a_failed_commit_is_dropped_not_raised() -> None:
    consumer = FakeConsumer({TopicPartition("t", 0)}, fail=True)
    committer = OffsetCommitter(interval_s=0)
    await committer.processed(consumer, Record("t", 0, 1))
    await committer.close()
    assert consumer.commits == []


async def test_close_flushes_what_is_pending() -> None:
    consumer = FakeConsumer({TopicPartition("t", 0)})
    committer = OffsetCommitter(interval_s=60)
    await committer.processed(consumer, Record("t", 0, 7))
    await committer.close()
    assert consumer.commits == [{TopicPartition("t", 0): 8}]
