"""How a service publishes its events on the per-message path: its own producer, one lean traced send per event.

faststream's publisher builds its middleware stack, a correlation id, a publish command and a telemetry span
with a dozen attributes for every call: about 0.28 ms of CPU per event beyond the send itself on the
benchmark machine, as much as half the work of a hop (bench/profile_pipeline.py). A service's events go
instead through :class:`EventPublisher` to :class:`EventProducer`, the service's own aiokafka producer with the
broker's producer policy (acks=all, idempotence where the broker has it, batching) and security. Each event
still gets its ``<topic> publish`` producer span, the W3C trace context in its headers (so the next hop
continues the e-mail's trace) and a count in ``quoteflow_events_published_total``.

The faststream publisher stays registered on the broker, so the AsyncAPI documents still describe what a
service produces, and it carries the events when the service's producer is not running: handlers tested on
faststream's TestKafkaBroker publish through it, where the test broker sees them.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel

from shared.broker import kafka_client_kwargs
from shared.consumer import TENANT_HEADER, publish_event
from shared.ops import Metrics
from shared.settings import Settings

_PROPAGATOR = TraceContextTextMapPropagator()


class EventProducer:
    """The service's producer for its events, started and stopped with the service (:class:`ServiceRuntime`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None
        self.needed = False
        """Set by the first :class:`EventPublisher` on it: a service that publishes no events opens no producer."""

    async def start(self) -> None:
        if self.producer is not None or not self.needed:
            return
        settings = self.settings
        producer = AIOKafkaProducer(
            **kafka_client_kwargs(settings, f"{settings.service_name}-events"),
            acks="all",
            enable_idempotence=settings.producer_idempotence,
            max_request_size=settings.kafka_max_message_bytes,
            max_batch_size=settings.kafka_max_batch_bytes,
            linger_ms=1,
        )
        await producer.start()
        self.producer = producer

    async def stop(self) -> None:
        """Send what is buffered, then close (after the consumers stopped: no handler publishes any more)."""
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()


class EventPublisher:
    """Publishes one topic's versioned events as JSON, keyed by thread (or adapter) id, traced and counted."""

    def __init__(
        self,
        broker: KafkaBroker,
        topic: str,
        *,
        title: str,
        description: str,
        schema: type[BaseModel],
        producer: EventProducer,
        tracer: Tracer,
        metrics: Metrics,
    ) -> None:
        self.topic = topic
        self.producer = producer
        self.tracer = tracer
        self.metrics = metrics
        producer.needed = True
        self.registered: Any = broker.publisher(topic, title=title, description=description, schema=schema)
        """faststream's publisher: the AsyncAPI entry, and the way out when the service's producer is not running."""

    async def publish(self, event: BaseModel, *, key: str, tenant: str | None = None) -> None:
        """Send ``event`` and wait for the broker's ack (the caller's next step, e.g. a dedup mark, may rely on it)."""
        producer = self.producer.producer
        if producer is None:
            await publish_event(self.registered, event, key=key, tenant=tenant)
        else:
            body = event.model_dump_json().encode()
            with self.tracer.start_as_current_span(
                f"{self.topic} publish",
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation": "publish",
                    "messaging.destination.name": self.topic,
                    "messaging.message.body.size": len(body),
                },
            ):
                carrier: dict[str, str] = {}
                _PROPAGATOR.inject(carrier)
                headers = [("content-type", b"application/json"), *((k, v.encode()) for k, v in carrier.items())]
                if tenant:
                    headers.append((TENANT_HEADER, tenant.encode()))
                sent = await producer.send(self.topic, body, key=key.encode(), headers=headers)
                await sent
        self.metrics.events_published.labels(self.metrics.service, self.topic).inc()
