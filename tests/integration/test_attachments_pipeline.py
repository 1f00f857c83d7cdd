"""Attachments through the real services: an Outlook .msg whose prices are only in its attached PDF, and a
mail with an attached XLSX, published raw, come out of extract with the attachment's items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from services import pipeline
from shared import topics
from shared.events import FactsExtracted, NormalizedThread
from shared.settings import Settings
from tests.support import attachment_files as files
from tests.support.outlook_files import build_msg
from tests.support.records import read_records, with_key

pytestmark = pytest.mark.integration


@pytest.fixture
async def services(stack: Settings) -> AsyncIterator[None]:
    async with pipeline.running_services(stack, names=("ingest", "extract")):
        yield


async def _publish(settings: Settings, values: list[bytes], key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topics.EMAILS_RAW, value, key=key)
    finally:
        await producer.stop()


async def _facts(settings: Settings, thread_key: bytes, version: int) -> FactsExtracted:
    threads = await read_records(
        settings,
        topics.THREADS_NORMALIZED,
        lambda found: any(NormalizedThread.model_validate_json(r.value).version == version for r in found),
        match=lambda r: (
            NormalizedThread.model_validate_json(r.value).messages[0].message_id.startswith(thread_key.decode())
        ),
    )
    thread_id = NormalizedThread.model_validate_json(threads[-1].value).thread_id
    records = await read_records(
        settings,
        topics.FACTS_EXTRACTED,
        lambda found: any(FactsExtracted.model_validate_json(r.value).thread_version == version for r in found),
        match=with_key(thread_id.encode()),
    )
    return FactsExtracted.model_validate_json(records[-1].value)


async def test_prices_only_in_attachments_reach_the_facts(stack: Settings, services: None) -> None:
    ask, _ = files.ko_thread(None)
    reply = build_msg(
        sender_name="박준호",
        sender_email=files.SUPPLIER[1],
        to=[files.BUYER],
        subject="RE: X 제품 견적 요청",
        body="안녕하세요.\r\n첨부된 견적서를 확인해주시기 바랍니다.\r\n\r\n박준호 드림",
        date=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        message_id="<answer-1@daeyang-parts.co.kr>",
        in_reply_to="<ask-1@hanbit-trading.co.kr>",
        attachments=(("견적서.pdf", files.PDF, files.pdf_quote(files.KO_QUOTE)),),
    )
    await _publish(stack, [ask, reply], key=b"ko")
    en = files.en_thread(("quotation.xlsx", files.XLSX, files.xlsx_quote(files.EN_QUOTE)))
    await _publish(stack, en, key=b"en")

    ko_facts = await _facts(stack, b"ask-1", 2)
    assert [(i.product, i.quantity, i.unit_price, i.currency) for i in ko_facts.facts.items] == [
        ("X 제품", 100, 9500, "KRW"),
        ("Y 부품", 50, 12000, "KRW"),
    ]
    assert any(e.attachment == 0 and e.text == "9,500" for e in ko_facts.evidence)
    en_facts = await _facts(stack, b"rfq-1", 2)
    assert [(i.product, i.unit_price, i.currency) for i in en_facts.facts.items] == [
        ("Gate valve DN50", 42.5, "USD"),
        ("Ball valve DN25", 18, "USD"),
    ]
