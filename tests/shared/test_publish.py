"""EventPublisher: the lean path keeps what faststream's publisher gave (trace, headers, a count); tests see it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.events import NormalizedThread
from shared.ops import build_metrics
from shared.publish import EventProducer, EventPublisher
from shared.settings import Settings


@dataclass
class FakeProducer:
    """aiokafka's producer as the publisher uses it: send() queues and returns the ack to wait for."""

    sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def send(self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> Any:
        self.sent.append((topic, value, key, headers))
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def _publisher(broker: KafkaBroker, producer: EventProducer, exporter: InMemorySpanExporter) -> EventPublisher:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return EventPublisher(
        broker,
        "quoteflow.threads.normalized",
        title="threads.normalized",
        description="test",
        schema=NormalizedThread,
        producer=producer,
        tracer=provider.get_tracer("test"),
        metrics=build_metrics("ingest"),
    )


async def test_an_event_goes_out_keyed_with_its_tenant_its_trace_and_a_publish_span() -> None:
    exporter, producer = InMemorySpanExporter(), EventProducer(Settings())
    fake = FakeProducer()
    producer.producer = fake  # type: ignore[assignment]
    publisher = _publisher(KafkaBroker(), producer, exporter)
    thread = NormalizedThread(thread_id="t-1", tenant="acme", messages=[])
    await publisher.publish(thread, key="t-1", tenant="acme")

    [(topic, value, key, headers)] = fake.sent
    assert (topic, key) == ("quoteflow.threads.normalized", b"t-1")
    assert NormalizedThread.model_validate_json(value) == thread
    named = dict(headers)
    assert named["content-type"] == b"application/json" and named["x-quoteflow-tenant"] == b"acme"
    [span] = exporter.get_finished_spans()
    assert span.name == "quoteflow.threads.normalized publish" and span.kind is SpanKind.PRODUCER
    context = TraceContextTextMapPropagator().extract({"traceparent": named["traceparent"].decode()})
    assert get_current_span(context).get_span_context().span_id == span.context.span_id  # the next hop's parent
    counted = publisher.metrics.events_published.labels("ingest", "quoteflow.threads.normalized")
    assert counted._value.get() == 1


async def test_without_the_services_producer_events_go_through_faststream_where_test_broker_sees_them() -> None:
    exporter, broker = InMemorySpanExporter(), KafkaBroker()
    publisher = _publisher(broker, EventProducer(Settings()), exporter)
    received: list[NormalizedThread] = []

    @broker.subscriber("quoteflow.threads.normalized")
    async def on_thread(thread: NormalizedThread) -> None:
        received.append(thread)

    async with TestKafkaBroker(broker):
        await publisher.publish(NormalizedThread(thread_id="t-2", tenant="acme", messages=[]), key="t-2", tenant="acme")
    assert [t.thread_id for t in received] == ["t-2"]


async def test_a_service_that_publishes_no_events_opens_no_producer() -> None:
    producer = EventProducer(Settings(kafka_bootstrap="127.0.0.1:1"))  # nothing listens there
    await producer.start()
    assert producer.producer is None
