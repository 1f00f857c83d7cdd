"""Each service's handlers on faststream's TestKafkaBroker (in memory, no Kafka, no Redis): one hop each.

The logic a record goes through is the same as on a real broker (MessageGuard, parsing, dead letters); what
TestKafkaBroker cannot show, commits and rebalances, the integration tests show on the embedded broker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.extract.handlers import to_event
from services.extract.main import build_service as build_extract
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from services.ingest.main import build_service as build_ingest
from services.ingest.settings import IngestSettings
from services.quote.main import build_service as build_quote
from services.quote.settings import QuoteSettings
from services.trainer.main import build_service as build_trainer
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.events import FactsCorrected, FactsExtracted, NormalizedThread, QuoteGenerated
from shared.keys import fewshot_key, thread_key
from shared.store import MemoryStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OFFLINE = {"kafka_bootstrap": "localhost:9", "redis_url": "redis://unused", "kafka_create_topics": False}


def collect(broker: KafkaBroker, topic: str) -> list[bytes]:
    """A subscriber of the test's own on ``topic``: what the service published there."""
    bodies: list[bytes] = []

    @broker.subscriber(topic, group_id=f"test-{topic}")
    async def on_output(body: Any, msg: KafkaMessage) -> None:
        bodies.append(bytes(msg.body))

    return bodies


def offer_mail() -> bytes:
    return (
        b"From: Daniel Lee <sales@seoul-valve.example>\r\nTo: buyer@northwind.example\r\n"
        b"Subject: Quotation: ball valves DN50\r\nDate: Fri, 01 May 2026 09:00:00 +0000\r\n"
        b"Message-ID: <offer-1@seoul-valve.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Dear Emily,\r\n\r\nOur price for the DN50 ball valve is USD 21.80 per piece for 300 pcs, FOB Busan.\r\n"
        b"Lead time is 4 weeks after order. Payment: 30% T/T deposit, 70% before shipment.\r\n\r\n"
        b"Best regards,\r\nDaniel Lee\r\nSeoul Valve Co., Ltd.\r\n"
    )


async def normalized_offer() -> NormalizedThread:
    runtime = build_ingest(IngestSettings(**OFFLINE, read_attachments=False), store=MemoryStore())  # type: ignore[arg-type]
    out = collect(runtime.broker, topics.THREADS_NORMALIZED)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(offer_mail(), topics.EMAILS_RAW, key=b"offer-1")
    return NormalizedThread.model_validate_json(out[0])


async def test_ingest_turns_a_raw_mail_into_a_normalized_thread_and_dead_letters_what_is_not_mail() -> None:
    store = MemoryStore()
    runtime = build_ingest(IngestSettings(**OFFLINE, read_attachments=False), store=store)  # type: ignore[arg-type]
    out = collect(runtime.broker, topics.THREADS_NORMALIZED)
    dead = collect(runtime.broker, topics.dlq(topics.EMAILS_RAW))
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(offer_mail(), topics.EMAILS_RAW, key=b"offer-1")
        await broker.publish(offer_mail(), topics.EMAILS_RAW, key=b"offer-1")  # the same message again
        await broker.publish(b"\x00\x01binary", topics.EMAILS_RAW, key=b"junk")
    threads = [NormalizedThread.model_validate_json(body) for body in out]
    assert [(t.version, t.messages[0].role) for t in threads] == [(1, "supplier")]  # the copy is dropped
    assert await store.get(thread_key("default", threads[0].thread_id)) is not None
    assert dead == [b"\x00\x01binary"]


async def test_extract_turns_a_normalized_thread_into_facts() -> None:
    thread = await normalized_offer()
    runtime = build_extract(ExtractSettings(**OFFLINE), store=MemoryStore(), engine=RulesEngine())  # type: ignore[arg-type]
    out = collect(runtime.broker, topics.FACTS_EXTRACTED)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(thread.model_dump_json().encode(), topics.THREADS_NORMALIZED, key=b"t")
    facts = FactsExtracted.model_validate_json(out[0])
    assert (facts.thread_id, facts.engine) == (thread.thread_id, "rules")
    assert [(i.product, i.quantity, i.unit_price) for i in facts.facts.items] == [("DN50 ball valve", 300, 21.8)]


async def test_quote_renders_facts_once_and_not_again_for_a_redelivery() -> None:
    thread = await normalized_offer()
    event = to_event(thread, RulesEngine().extract_sync(thread)).model_dump_json().encode()
    runtime = build_quote(QuoteSettings(**OFFLINE), store=MemoryStore())  # type: ignore[arg-type]
    out = collect(runtime.broker, topics.QUOTES_GENERATED)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(event, topics.FACTS_EXTRACTED, key=thread.thread_id.encode())
        await broker.publish(event, topics.FACTS_EXTRACTED, key=thread.thread_id.encode())
    quotes = [QuoteGenerated.model_validate_json(body) for body in out]
    assert [(q.revision, q.currency) for q in quotes] == [(1, "USD")]
    assert quotes[0].quote_number.startswith("Q-")


async def test_trainer_keeps_a_correction_as_a_few_shot_example(tmp_path: Path) -> None:
    thread = await normalized_offer()
    store = MemoryStore()
    await store.set(thread_key(thread.tenant, thread.thread_id), thread.model_dump_json())
    settings = TrainerSettings(
        **OFFLINE,  # type: ignore[arg-type]
        dataset_dir=tmp_path / "dataset",
        adapters_dir=tmp_path / "adapters",
        bundled_adapter=False,
        schedule_enabled=False,
    )
    runtime = build_trainer(settings, store=store)
    facts = RulesEngine().extract_sync(thread).facts
    correction = FactsCorrected(thread_id=thread.thread_id, tenant=thread.tenant, facts=facts, confirmed=True)
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(correction.model_dump_json().encode(), topics.FACTS_CORRECTED, key=b"t")
    assert set(await store.hgetall(fewshot_key(thread.tenant))) == {thread.thread_id}
