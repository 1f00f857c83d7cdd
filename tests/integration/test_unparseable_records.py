"""Records the framework cannot parse reach their DLQ; their neighbours are processed.

A header value that is not UTF-8 used to make faststream's batch parser raise before
MessageGuard saw the batch: every record of that fetch (on every partition) was neither
processed nor dead-lettered, and later commits moved past them. Each subscriber
(ingest, extract, quote, trainer) is tried on the real broker with such records mixed
between good ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services import pipeline
from shared import topics
from shared.events import FactsCorrected, KeyFacts, QuoteGenerated
from shared.settings import Settings
from tests.integration.test_fault_tolerance import TopicReader, inquiry

pytestmark = pytest.mark.integration

BAD_HEADERS = [("x-note", b"\xfe\xff"), ("content-type", b"application/json")]


@pytest.fixture
async def services(stack: Settings) -> AsyncIterator[None]:
    async with pipeline.running_services(stack):
        yield


async def _send(settings: Settings, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _read_until(reader: TopicReader, done: object, timeout_s: float = 90.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and not done():  # type: ignore[operator]
        await reader.poll()


async def test_non_utf8_header_is_dead_lettered_and_its_neighbours_quoted(stack: Settings, services: None) -> None:
    good = [(f"g{i}".encode(), inquiry(8000 + i), []) for i in range(12)]
    bad = [(b"bad-raw", inquiry(8100), BAD_HEADERS)]
    # The bad record in the middle of the good ones, all keys spread over the partitions.
    await _send(stack, topics.EMAILS_RAW, [*good[:6], *bad, *good[6:]])
    async with (
        TopicReader(stack, topics.QUOTES_GENERATED) as quotes,
        TopicReader(stack, topics.dlq(topics.EMAILS_RAW)) as dead,
    ):

        def quoted() -> set[str]:
            return {QuoteGenerated.model_validate_json(r.value).thread_id for r in quotes.records}  # type: ignore[attr-defined]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while loop.time() < deadline and (len(quoted()) < 12 or not dead.records):
            await quotes.poll()
            await dead.poll()
    assert len(quoted()) == 12, f"{12 - len(quoted())} valid mail(s) lost around a record with a bad header"
    assert [r.key for r in dead.records] == [b"bad-raw"]  # type: ignore[attr-defined]
    reason = dict(dead.records[0].headers)["x-quoteflow-dlq-error-message"].decode()  # type: ignore[attr-defined]
    assert "x-note" in reason and "UTF-8" in reason


@pytest.mark.parametrize(
    ("topic", "body", "subscribers"),
    [
        (topics.THREADS_NORMALIZED, b'{"thread_id": "t-bad", "messages": []}', {"extract"}),
        (topics.FACTS_EXTRACTED, b'{"thread_id": "t-bad", "facts": {}}', {"quote"}),
        (
            topics.FACTS_CORRECTED,
            FactsCorrected(thread_id="t-bad", facts=KeyFacts()).model_dump_json().encode(),
            {"trainer", "quote"},  # the trainer stores corrections, quote renders them as a new revision
        ),
    ],
)
async def test_every_subscriber_dead_letters_a_non_utf8_header(
    stack: Settings, services: None, topic: str, body: bytes, subscribers: set[str]
) -> None:
    key = f"bad-{topic}".encode()
    await _send(stack, topic, [(key, body, BAD_HEADERS)])

    def letters() -> list[Any]:
        return [r for r in dead.records if r.key == key]  # type: ignore[attr-defined]

    async with TopicReader(stack, topics.dlq(topic)) as dead:
        await _read_until(dead, lambda: len(letters()) >= len(subscribers))
    services_that_refused = [dict(r.headers)["x-quoteflow-dlq-service"].decode() for r in letters()]
    assert sorted(services_that_refused) == sorted(subscribers)  # each subscribing service once
    for letter in letters():
        assert "not valid UTF-8" in dict(letter.headers)["x-quoteflow-dlq-error-message"].decode()
