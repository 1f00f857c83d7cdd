"""A record naming two tenants in its headers is dead-lettered, never handled as one of them."""

from __future__ import annotations

from aiokafka import TopicPartition
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.consumer import Delivery
from tests.shared.test_message_guard import FakeBroker, Record, make_guard, run


async def test_record_with_two_different_tenant_headers_is_dead_lettered() -> None:
    broker = FakeBroker()
    seen: list[bytes] = []

    async def process(delivery: Delivery) -> None:
        seen.append(delivery.body)

    two = (("x-quoteflow-tenant", b"acme"), ("x-quoteflow-tenant", b"beta"))
    records = [Record("t", 0, 0, b"two", headers=two), Record("t", 0, 1, b"ok")]
    consumer = await run(make_guard(broker, InMemorySpanExporter()), records, process)
    assert seen == [b"ok"]
    assert [(topic, body) for topic, body, _ in broker.published] == [("t.dlq", b"two")]
    assert "x-quoteflow-tenant" in broker.published[0][2]["x-quoteflow-dlq-error-message"]
    assert consumer.committed == {TopicPartition("t", 0): 2}


async def test_record_repeating_the_same_tenant_header_is_handled() -> None:
    seen: list[str | None] = []

    async def process(delivery: Delivery) -> None:
        seen.append(delivery.tenant)

    same = (("x-quoteflow-tenant", b"acme"), ("x-quoteflow-tenant", b"acme"))
    await run(make_guard(FakeBroker(), InMemorySpanExporter()), [Record("t", 0, 0, b"x", headers=same)], process)
    assert seen == ["acme"]


async def test_record_with_the_tenant_header_in_other_case_is_dead_lettered() -> None:
    broker = FakeBroker()
    seen: list[bytes] = []

    async def process(delivery: Delivery) -> None:
        seen.append(delivery.body)

    record = Record("t", 0, 0, b"cased", headers=(("X-QuoteFlow-Tenant", b"beta"),))
    await run(make_guard(broker, InMemorySpanExporter()), [record], process)
    assert seen == []
    assert [(topic, body) for topic, body, _ in broker.published] == [("t.dlq", b"cased")]
    assert "case-sensitive" in broker.published[0][2]["x-quoteflow-dlq-error-message"]
