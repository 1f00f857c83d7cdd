"""An e-mail published to quoteflow.emails.raw becomes a quote, over the real broker and Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services import pipeline
from services.ingest.mailfiles import read_mail_files
from shared import topics
from shared.events import FactsCorrected, FactsExtracted, KeyFacts, NormalizedThread, QuoteGenerated
from shared.settings import Settings
from shared.telemetry import Telemetry, build_telemetry
from tests.conftest import EXAMPLES
from tests.support.records import read_records

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def services(stack: Settings, spans: InMemorySpanExporter) -> AsyncIterator[list[object]]:
    def telemetry_for(name: str) -> Telemetry:
        return build_telemetry(stack.model_copy(update={"service_name": name}), (SimpleSpanProcessor(spans),))

    async with pipeline.running_services(stack, telemetry_for=telemetry_for) as runtimes:
        yield list(runtimes)


async def _consume(settings: Settings, topic: str, count: int, timeout_s: float = 30.0) -> list[object]:
    """Read `count` records of a topic from the beginning, without a consumer group."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[object] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(records) < count and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def _publish(settings: Settings, topic: str, values: list[bytes], key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _version(record: Any) -> int:
    return FactsExtracted.model_validate_json(record.value).thread_version


async def test_email_becomes_quote_across_four_topics(
    stack: Settings, services: list[object], spans: InMemorySpanExporter
) -> None:
    talk = read_mail_files([EXAMPLES / "talk-x-product.mbox"])[0]
    await _publish(stack, topics.EMAILS_RAW, talk.messages, key=b"talk")

    quotes = await _consume(stack, topics.QUOTES_GENERATED, 1)
    assert quotes, "no quote was generated"
    # Wait until the last thread version went through, then check the final quote.
    threads = await _consume(stack, topics.THREADS_NORMALIZED, len(talk.messages))
    assert len(threads) == len(talk.messages)
    last_thread = NormalizedThread.model_validate_json(threads[-1].value)  # type: ignore[attr-defined]
    assert last_thread.version == 6
    assert [m.role for m in last_thread.messages] == ["buyer", "supplier"] * 3
    for record in threads:
        assert record.key == last_thread.thread_id.encode()  # type: ignore[attr-defined]

    # Versions that reach extract in one batch are extracted once, as the newest: up to six events.
    facts_records = await read_records(
        stack, topics.FACTS_EXTRACTED, lambda found: any(_version(r) == len(talk.messages) for r in found)
    )
    assert 1 <= len(facts_records) <= len(talk.messages)
    assert [_version(r) for r in facts_records] == sorted({_version(r) for r in facts_records})
    final_facts = FactsExtracted.model_validate_json(facts_records[-1].value)
    assert final_facts.thread_version == 6

    deadline = asyncio.get_running_loop().time() + 30
    final_quote = None
    while asyncio.get_running_loop().time() < deadline:
        records = await _consume(stack, topics.QUOTES_GENERATED, 1, timeout_s=2)
        quotes_seen = [QuoteGenerated.model_validate_json(r.value) for r in records]  # type: ignore[attr-defined]
        done = [q for q in quotes_seen if q.facts_hash == final_facts.facts.content_hash()]
        if done:
            final_quote = done[-1]
            break
    assert final_quote is not None
    assert final_quote.thread_id == last_thread.thread_id
    assert final_quote.total is not None and int(final_quote.total) == 1_045_000
    assert final_quote.quote_number.startswith("Q-")

    headers = dict(records[-1].headers)  # type: ignore[attr-defined]
    assert "traceparent" in headers


async def test_garbage_goes_to_dlq_and_pipeline_continues(stack: Settings, services: list[object]) -> None:
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0]
    await _publish(stack, topics.EMAILS_RAW, [b"\x00\x01\x02 not mail", b'{"schema_version": 9}'], key=b"bad")
    await _publish(stack, topics.EMAILS_RAW, valves.messages, key=b"valves")

    dead = await _consume(stack, topics.dlq(topics.EMAILS_RAW), 2)
    assert len(dead) == 2
    reasons = [dict(r.headers)["x-quoteflow-dlq-error-message"].decode() for r in dead]  # type: ignore[attr-defined]
    assert any("binary" in reason for reason in reasons)
    assert any("schema_version" in reason for reason in reasons)
    assert dead[0].value == b"\x00\x01\x02 not mail"  # type: ignore[attr-defined]

    threads = await _consume(stack, topics.THREADS_NORMALIZED, 100, timeout_s=5)
    subjects = {NormalizedThread.model_validate_json(r.value).subject for r in threads}  # type: ignore[attr-defined]
    assert "Inquiry: stainless ball valves DN50" in subjects


async def test_trainer_records_corrections(stack: Settings, services: list[object], tmp_path: Path) -> None:
    correction = FactsCorrected(thread_id="t-unknown", facts=KeyFacts(currency="KRW"))
    await _publish(stack, topics.FACTS_CORRECTED, [correction.model_dump_json().encode()], key=b"t-unknown")
    await _publish(stack, topics.FACTS_CORRECTED, [b"[1, 2, 3]"], key=b"t-x")
    dead = await _consume(stack, topics.dlq(topics.FACTS_CORRECTED), 1, timeout_s=15)
    assert dead, "an invalid correction must be dead-lettered"
    reason = dict(dead[0].headers)["x-quoteflow-dlq-error-message"].decode()  # type: ignore[attr-defined]
    assert json.dumps("expected a JSON object")[1:-1] in reason or "unknown" in reason
