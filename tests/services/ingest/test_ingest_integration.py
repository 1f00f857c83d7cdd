"""Ingest against the real embedded broker and Redis: threads out, duplicates silent, bad mail in the DLQ.

One service start for the whole broker scenario: a consumer group re-join costs seconds on Tansu.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer

from services.ingest.mailfiles import read_mail_files
from services.ingest.main import build_service
from services.ingest.normalize import normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from shared import topics
from shared.events import NormalizedThread
from shared.service import ServiceRuntime
from shared.settings import Settings
from shared.store import RedisStore
from tests.conftest import EXAMPLES
from tests.services.ingest.conftest import fixture_path
from tests.services.ingest.test_trust_review import EVIL_REPLY
from tests.support.records import read_records, with_tenant

pytestmark = pytest.mark.integration

CONNECTION = ("kafka_bootstrap", "kafka_idempotence", "redis_url")


@pytest.fixture
async def ingest(stack: Settings) -> AsyncIterator[ServiceRuntime]:
    update: dict[str, Any] = {f: getattr(stack, f) for f in CONNECTION}
    update["max_email_bytes"] = 256 * 1024
    runtime = build_service(IngestSettings().model_copy(update=update))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _publish(settings: Settings, values: list[bytes], *, key: bytes, tenant: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(
                topics.EMAILS_RAW, value, key=key, headers=[("x-quoteflow-tenant", tenant.encode())]
            )
    finally:
        await producer.stop()


async def test_raw_mail_to_threads_with_dedup_and_dead_letters(stack: Settings, ingest: ServiceRuntime) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    talk = read_mail_files([EXAMPLES / "talk-x-product.mbox"])[0].messages
    sentinel = fixture_path("ko_cp949_ks_c_5601.eml").read_bytes()
    bad = [
        b"\x00\x01\x02 binary garbage",
        b'{"kind": "email", "from": ',  # invalid JSON
        b"Subject: no sender\r\nMessage-ID: <nosender@x>\r\n\r\nbody\r\n",
        b"From: a@example.com\r\nMessage-ID: <big@x>\r\n\r\n" + b"x" * (300 * 1024),
    ]
    event = {
        "kind": "email",
        "from": "Emily Carter <emily.carter@northwind-supply.com>",
        "to": ["daniel.lee@seoul-valve.co.kr"],
        "subject": "Inquiry",
        "message_id": f"<json-{tenant}@northwind-supply.com>",
        "text": "Please quote 400 pcs.\n\nBest regards,\nEmily Carter\nNorthwind Supply",
    }
    json_event = json.dumps(event).encode()
    # One key, one partition: the duplicates are handled before the sentinel's thread appears.
    await _publish(stack, [*talk, talk[0], talk[3], json_event, *bad, sentinel], key=b"same-partition", tenant=tenant)

    def sentinel_seen(records: list[Any]) -> bool:
        return any(b"cp949-1@hanbit-trading.co.kr" in r.value for r in records)

    threads = await read_records(stack, topics.THREADS_NORMALIZED, match=with_tenant(tenant), until=sentinel_seen)
    assert sentinel_seen(threads)
    parsed = [NormalizedThread.model_validate_json(r.value) for r in threads]
    talk_threads = [t for t in parsed if t.subject == "X 제품 가격 문의"]
    assert [t.version for t in talk_threads] == [1, 2, 3, 4, 5, 6]  # no event for either duplicate
    dropped = ingest.metrics.registry.get_sample_value(
        "quoteflow_duplicates_dropped_total", {"service": "ingest", "reason": "message_id"}
    )
    assert dropped == 2
    last = talk_threads[-1]
    assert [m.role for m in last.messages] == ["buyer", "supplier"] * 3
    assert all(t.tenant == tenant and r.key == t.thread_id.encode() for t, r in zip(parsed, threads, strict=True))

    (from_json,) = [t for t in parsed if t.subject == "Inquiry"]
    assert from_json.messages[0].text == "Please quote 400 pcs."
    assert from_json.messages[0].sender_company == "Northwind Supply"

    dead = await read_records(
        stack, topics.dlq(topics.EMAILS_RAW), match=with_tenant(tenant), until=lambda found: len(found) >= len(bad)
    )
    reasons = [dict(r.headers)["x-quoteflow-dlq-error-message"].decode() for r in dead]
    assert len(reasons) == len(bad), reasons
    assert "binary" in reasons[0]
    assert "invalid JSON" in reasons[1]
    assert "From" in reasons[2]
    assert "exceeds the limit" in reasons[3]
    assert [r.value for r in dead] == bad


async def test_thread_state_in_redis_expires(redis_only: str) -> None:
    settings = IngestSettings(thread_ttl_days=2, dedup_ttl_days=1)
    store = RedisStore(redis_only)
    client = redis.Redis.from_url(redis_only)
    try:
        repository = ThreadRepository(store, settings)
        incoming = normalize_raw(fixture_path("ko_euckr_inquiry.eml").read_bytes(), settings)
        assert not await repository.is_duplicate(incoming)
        thread = await repository.assemble(incoming)
        await repository.commit(incoming, thread)
        assert await repository.is_duplicate(incoming)
        keys = [k.decode() if isinstance(k, bytes) else k for k in await client.keys("qf:*")]
        assert any(k.startswith("qf:thread:") for k in keys)
        for key in keys:
            ttl = await client.ttl(key)
            limit = 2 * 86_400 if not key.startswith("qf:seen:") else 86_400
            assert 0 < ttl <= limit, key
        loaded = await repository.load(thread.tenant, thread.thread_id)
        assert loaded == thread
    finally:
        await client.aclose()
        await store.close()


async def test_a_look_alike_reply_reaches_the_normalized_topic_with_its_review_reason(
    stack: Settings, ingest: ServiceRuntime
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0].messages
    await _publish(stack, [*valves, EVIL_REPLY], key=b"valves", tenant=tenant)

    def evil_seen(records: list[Any]) -> bool:
        return any(b"valves-en-evil@" in r.value for r in records)

    threads = [
        NormalizedThread.model_validate_json(r.value)
        for r in await read_records(stack, topics.THREADS_NORMALIZED, match=with_tenant(tenant), until=evil_seen)
    ]
    assert [t.version for t in threads] == list(range(1, len(valves) + 2))
    assert all(t.review_reasons == [] for t in threads[:-1])
    assert any("looks like seoul-valve.co.kr" in r for r in threads[-1].review_reasons), threads[-1].review_reasons
