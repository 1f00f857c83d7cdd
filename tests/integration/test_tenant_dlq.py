"""A raw mail whose tenant header breaks the tenant-id rule is dead-lettered, on the real broker and Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from services.ingest.main import build_service
from services.ingest.settings import IngestSettings
from shared import topics
from shared.events import NormalizedThread
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.conftest import EXAMPLES
from tests.support.records import read_records, with_key, with_tenant

pytestmark = pytest.mark.integration

CONNECTION = ("kafka_bootstrap", "kafka_idempotence", "redis_url")
BAD_TENANTS = ["..", "a:b", "한빛무역", "", "x" * 64, "Acme"]


@pytest.fixture
async def ingest(stack: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = build_service(IngestSettings().model_copy(update={f: getattr(stack, f) for f in CONNECTION}))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_invalid_tenant_header_sends_the_raw_mail_to_the_dlq(stack: Settings, ingest: ServiceRuntime) -> None:
    mail = (EXAMPLES / "single-inquiry.eml").read_bytes()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for tenant in BAD_TENANTS:
            headers = [("x-quoteflow-tenant", tenant.encode())]
            await producer.send_and_wait(topics.EMAILS_RAW, mail, key=b"bad-tenant", headers=headers)
        event = {"kind": "email", "tenant": "a:b", "from": "a@example.com", "message_id": "<json-bad-tenant@x>"}
        await producer.send_and_wait(topics.EMAILS_RAW, json.dumps(event).encode(), key=b"bad-tenant")
        # The same mail with a valid tenant, after the bad ones on the same partition: it goes through.
        await producer.send_and_wait(
            topics.EMAILS_RAW, mail, key=b"bad-tenant", headers=[("x-quoteflow-tenant", b"acme-col")]
        )
    finally:
        await producer.stop()

    dead = await read_records(
        stack, topics.dlq(topics.EMAILS_RAW), lambda found: len(found) > len(BAD_TENANTS), match=with_key(b"bad-tenant")
    )
    reasons = [dict(r.headers)["x-quoteflow-dlq-error-message"].decode() for r in dead]
    assert len(reasons) == len(BAD_TENANTS) + 1, reasons
    assert all("invalid tenant id" in reason for reason in reasons), reasons
    assert [r.value for r in dead[: len(BAD_TENANTS)]] == [mail] * len(BAD_TENANTS)
    assert "x-quoteflow-tenant" in reasons[0] and "'..'" in reasons[0]

    threads = [
        NormalizedThread.model_validate_json(r.value)
        for r in await read_records(
            stack, topics.THREADS_NORMALIZED, bool, match=with_tenant("acme-col"), linger_ms=500
        )
    ]
    assert [t.tenant for t in threads] == ["acme-col"]
