"""Dead-letter topics for operators: see why messages failed, and send them back once fixed.

`quoteflow dlq show TOPIC` lists a topic's dead letters with their reasons;
`quoteflow dlq replay TOPIC` publishes the original bytes (and headers, without the
error headers) back to the source topic. Replay commits its position in its own
consumer group, so each dead letter is replayed once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import topics
from shared.broker import kafka_client_kwargs
from shared.consumer import DLQ_HEADER_PREFIX
from shared.settings import Settings


@dataclass
class DeadLetter:
    """One dead-lettered record, as an operator needs to see it."""

    partition: int
    offset: int
    key: str
    error_class: str
    error_message: str
    attempt: str
    service: str
    size: int


class UnknownTopic(ValueError):
    """A topic name that is none of the pipeline's; the message lists the known ones."""


def dead_letter_topic(name: str) -> str:
    """Accept a source topic, its short name (emails.raw) or the .dlq topic itself."""
    given = name
    if not name.startswith("quoteflow."):
        name = f"quoteflow.{name}"
    if not name.endswith(".dlq"):
        name = topics.dlq(name)
    if name.removesuffix(".dlq") not in topics.PIPELINE_TOPICS:
        known = ", ".join(t.removeprefix("quoteflow.") for t in topics.PIPELINE_TOPICS)
        raise UnknownTopic(f"no such topic {given!r}: choose one of {known}")
    return name


def _describe(record: Any) -> DeadLetter:
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        key=(record.key or b"").decode("utf-8", "replace"),
        error_class=headers.get(f"{DLQ_HEADER_PREFIX}error-class", "?"),
        error_message=headers.get(f"{DLQ_HEADER_PREFIX}error-message", ""),
        attempt=headers.get(f"{DLQ_HEADER_PREFIX}attempt", "?"),
        service=headers.get(f"{DLQ_HEADER_PREFIX}service", "?"),
        size=len(record.value or b""),
    )


async def _read_to_end(consumer: AIOKafkaConsumer, limit: int, timeout_s: float = 60.0) -> list[Any]:
    """Everything from the consumer's position to the end offsets as they were when called (or `limit`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for _ in range(int(timeout_s * 10)):
        if consumer.assignment():
            break
        await asyncio.sleep(0.1)  # a group consumer gets its partitions once it has joined
    partitions = consumer.assignment()
    ends = await consumer.end_offsets(list(partitions))
    records: list[Any] = []
    while len(records) < limit and loop.time() < deadline:
        positions = [await consumer.position(tp) for tp in ends]
        if all(position >= end for position, end in zip(positions, ends.values(), strict=True)):
            break
        batch = await consumer.getmany(timeout_ms=500, max_records=limit - len(records))
        for part in batch.values():
            records.extend(part)
    return records


async def show(settings: Settings, topic: str, limit: int = 50) -> list[DeadLetter]:
    """The first `limit` dead letters of a topic, without moving any consumer group."""
    name = dead_letter_topic(topic)  # before connecting: a typo costs no broker round trip
    consumer = AIOKafkaConsumer(auto_offset_reset="earliest", enable_auto_commit=False, **kafka_client_kwargs(settings))
    await consumer.start()
    try:
        partitions = await consumer._client.fetch_all_metadata()
        consumer.assign([TopicPartition(name, p) for p in partitions.partitions_for_topic(name) or ()])
        await consumer.seek_to_beginning()
        return [_describe(r) for r in await _read_to_end(consumer, limit)]
    finally:
        await consumer.stop()


async def replay(settings: Settings, topic: str, limit: int = 1000) -> int:
    """Publish dead letters back to their source topic; returns how many were replayed."""
    dlq_topic = dead_letter_topic(topic)
    source = dlq_topic.removesuffix(".dlq")
    connection = kafka_client_kwargs(settings)
    consumer = AIOKafkaConsumer(
        dlq_topic,
        group_id=f"quoteflow-dlq-replay-{source}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **connection,
    )
    producer = AIOKafkaProducer(
        acks="all",
        enable_idempotence=settings.producer_idempotence,
        max_request_size=settings.kafka_max_message_bytes,
        **connection,
    )
    await asyncio.gather(consumer.start(), producer.start())
    replayed = 0
    try:
        for record in await _read_to_end(consumer, limit):
            headers = [(k, v) for k, v in (record.headers or []) if not k.startswith(DLQ_HEADER_PREFIX)]
            await producer.send_and_wait(source, record.value, key=record.key, headers=headers)
            replayed += 1
        await consumer.commit()
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())
    return replayed
