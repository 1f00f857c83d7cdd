"""The quote service on the real embedded broker and Redis: facts in, numbered revisions out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.quote.handlers import register
from services.quote.settings import QuoteSettings
from shared import topics
from shared.broker import ensure_topics
from shared.events import FactsCorrected, FactsExtracted, QuoteGenerated
from shared.service import ServiceRuntime, build_runtime
from shared.settings import Settings
from tests.services.quote.conftest import load_event

# One service (and one consumer-group join) for the whole module: rejoining a group takes the broker seconds.
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(scope="module")
def pdf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pdf")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def quote_service(stack: Settings, pdf_dir: Path) -> AsyncIterator[ServiceRuntime]:
    settings = QuoteSettings(
        kafka_bootstrap=stack.kafka_bootstrap,
        kafka_idempotence=False,
        redis_url=stack.redis_url,
        pdf_dir=pdf_dir,
    )
    await ensure_topics(settings, topics.ALL_TOPICS)
    runtime = build_runtime("quote", settings)
    register(runtime, settings, today=lambda: date(2026, 3, 3))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _publish(settings: Settings, topic: str, values: list[bytes], key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume(settings: Settings, topic: str, count: int, wait_s: float = 30.0) -> list[ConsumerRecord]:
    """Read `count` records of a topic from the beginning (waiting at most wait_s), without a group."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while len(records) < count and loop.time() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def _quotes(records: list[ConsumerRecord]) -> list[QuoteGenerated]:
    return [QuoteGenerated.model_validate_json(r.value) for r in records]


async def test_revisions_keep_the_number_and_identical_facts_add_none(
    stack: Settings, quote_service: ServiceRuntime, pdf_dir: Path
) -> None:
    talk = load_event("talk_ko.facts.json")
    changed_facts = talk.facts.model_copy(
        update={"items": [talk.facts.items[0].model_copy(update={"quantity": 200.0})]}
    )
    changed = talk.model_copy(update={"facts": changed_facts, "thread_version": 7})
    again = talk.model_copy(update={"thread_version": 6, "summary": "same facts, new extraction"})
    messages = [e.model_dump_json().encode() for e in (talk, again, changed)]
    await _publish(stack, topics.FACTS_EXTRACTED, messages, key=talk.thread_id.encode())

    # One partition per thread: had the identical extraction produced a quote, it would come before revision 2.
    quotes = _quotes(await _consume(stack, topics.QUOTES_GENERATED, 2))
    assert [(q.quote_number, q.revision) for q in quotes] == [("Q-2026-000001", 1), ("Q-2026-000001", 2)]
    first, second = quotes
    assert (first.total, second.total) == (1_045_000, 2_090_000)
    assert first.language == "ko" and first.currency == "KRW" and not first.needs_review
    assert first.facts_hash == talk.facts.content_hash()
    assert "일금 일백사만오천 원정" in first.markdown and "견적서" in first.html
    assert (pdf_dir / "default" / "Q-2026-000001-r2.pdf").read_bytes().startswith(b"%PDF-")
    assert [q.pdf_path for q in quotes] == [
        str((pdf_dir / "default" / f"Q-2026-000001-r{n}.pdf").absolute()) for n in (1, 2)
    ]
    assert (first.issue_date, first.valid_until, first.vat_mode) == (date(2026, 3, 3), date(2026, 4, 2), "excluded")

    valves = load_event("valves_en.facts.json")
    await _publish(stack, topics.FACTS_EXTRACTED, [valves.model_dump_json().encode()], key=valves.thread_id.encode())
    quotes = _quotes(await _consume(stack, topics.QUOTES_GENERATED, 3))
    new = [q for q in quotes if q.thread_id == valves.thread_id]
    assert [(q.quote_number, q.revision, q.language, str(q.total), q.vat_mode) for q in new] == [
        ("Q-2026-000002", 1, "en", "8360.00", "exempt")
    ]


async def test_bad_facts_go_to_the_dead_letter_topic(stack: Settings, quote_service: ServiceRuntime) -> None:
    incomplete = FactsExtracted.model_validate({"thread_id": "t-x", "facts": {}}).model_dump(mode="json")
    incomplete["facts"]["currency"] = 42

    await _publish(stack, topics.FACTS_EXTRACTED, [b"not json", json.dumps(incomplete).encode()], key=b"t-bad")
    dead = await _consume(stack, topics.dlq(topics.FACTS_EXTRACTED), 2)
    reasons = [dict(r.headers)["x-quoteflow-dlq-error-message"].decode() for r in dead]
    assert any("invalid JSON" in reason for reason in reasons)
    assert any("facts.currency" in reason for reason in reasons)


async def _stale_count(runtime: ServiceRuntime, reason: str) -> float:
    labels = {"service": runtime.metrics.service, "reason": reason}
    return runtime.metrics.registry.get_sample_value("quoteflow_quote_stale_facts_total", labels) or 0.0


async def test_a_replayed_older_version_makes_no_revision(stack: Settings, quote_service: ServiceRuntime) -> None:
    base = load_event("valves_en.facts.json")
    thread = "t-replay-v1-v2-v1"

    def version(number: int, price: float) -> FactsExtracted:
        item = base.facts.items[0].model_copy(update={"unit_price": price})
        facts = base.facts.model_copy(update={"items": [item]})
        return base.model_copy(update={"thread_id": thread, "thread_version": number, "facts": facts})

    v1, v2 = version(1, 65.5), version(2, 55.25)
    stale_before = await _stale_count(quote_service, "older_version")
    # v1, v2, then v1 again as `quoteflow dlq replay` (or a redelivery after kill -9) would send it.
    messages = [e.model_dump_json().encode() for e in (v1, v2, v1)]
    await _publish(stack, topics.FACTS_EXTRACTED, messages, key=thread.encode())

    for _ in range(600):  # until the replay was handled (at most ~30 s)
        if await _stale_count(quote_service, "older_version") > stale_before:
            break
        await asyncio.sleep(0.05)
    assert await _stale_count(quote_service, "older_version") == stale_before + 1
    # The replay was the last record of its partition: everything it could have caused is on the topic now.
    records = await _consume(stack, topics.QUOTES_GENERATED, 10_000, wait_s=3.0)
    mine = [q for q in _quotes(records) if q.thread_id == thread]
    assert [(q.revision, q.lines[0].unit_price) for q in mine] == [(1, Decimal("65.50")), (2, Decimal("55.25"))]
    assert len({q.quote_number for q in mine}) == 1


async def test_a_correction_makes_a_new_revision_and_outranks_its_extraction(
    stack: Settings, quote_service: ServiceRuntime
) -> None:
    base = load_event("valves_en.facts.json")
    thread = "t-corrected-by-review"
    single = base.facts.model_copy(update={"items": base.facts.items[:1]})
    extracted = base.model_copy(
        update={"thread_id": thread, "thread_version": 3, "needs_review": True, "facts": single}
    )
    await _publish(stack, topics.FACTS_EXTRACTED, [extracted.model_dump_json().encode()], key=thread.encode())
    item = extracted.facts.items[0].model_copy(update={"unit_price": 60.0})
    corrected = FactsCorrected(
        thread_id=thread,
        facts=extracted.facts.model_copy(update={"items": [item]}),
        corrected_by="minji",
        confirmed=True,
        changed_fields=["items.0.unit_price"],
        thread_version=3,
    )
    same = FactsCorrected(thread_id=thread, facts=corrected.facts, corrected_by="minji", confirmed=True)
    unknown = FactsCorrected(thread_id="t-never-quoted", facts=corrected.facts)
    messages = [c.model_dump_json().encode() for c in (corrected, same)]
    await _publish(stack, topics.FACTS_CORRECTED, messages, key=thread.encode())
    await _publish(stack, topics.FACTS_CORRECTED, [unknown.model_dump_json().encode()], key=b"t-never-quoted")
    # The extraction again (a redelivery): older than the correction, so no revision back to the old price.
    await _publish(stack, topics.FACTS_EXTRACTED, [extracted.model_dump_json().encode()], key=thread.encode())

    dead = await _consume(stack, topics.dlq(topics.FACTS_CORRECTED), 1)
    assert "that quote has no facts of" in dict(dead[0].headers)["x-quoteflow-dlq-error-message"].decode()
    records = await _consume(stack, topics.QUOTES_GENERATED, 10_000, wait_s=3.0)
    mine = [q for q in _quotes(records) if q.thread_id == thread]
    assert [(q.revision, q.lines[0].unit_price, q.needs_review) for q in mine] == [
        (1, Decimal(str(base.facts.items[0].unit_price)), True),
        (2, Decimal("60"), False),
    ]
    assert mine[1].facts_hash == corrected.facts.content_hash() and mine[1].language == "en"
