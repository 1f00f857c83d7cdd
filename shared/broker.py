"""Kafka broker factory: one place for producer, consumer and topic policy.

Producer: ``acks=all``; idempotence on for Apache Kafka, off for the embedded
Tansu 0.6 broker (it answers InitProducerId with an error).
Consumers: batches of records, explicit ``MANUAL`` ack policy driven by
shared.consumer.MessageGuard (commit only processed offsets, batched in time; rewind
the partition on a failure: at-least-once) and ``auto_offset_reset=earliest`` (a new
group must not skip what was published before it joined).
Tracing: faststream's telemetry middleware makes the publish spans; consume spans are
made per record by MessageGuard, so a batch never merges the traces of its e-mails.
Topics are created at start-up because Tansu does not auto-create them.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry.provider import telemetry_attributes_provider_factory
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.response import KafkaPublishCommand
from faststream.message import StreamMessage
from faststream.opentelemetry.middleware import TelemetryMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry.trace import TracerProvider

from shared.ops import Metrics
from shared.settings import Settings
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
BATCH_POLL_MS = 10
"""How long an idle batch subscriber waits for records (faststream sleeps as long again when none came)."""


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)


def broker_security(settings: Settings) -> BaseSecurity | None:
    """faststream security object from the settings (SASL PLAIN/SCRAM, TLS)."""
    context = _ssl_context(settings)
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
            raise ValueError("SASL needs QUOTEFLOW_KAFKA_SASL_USERNAME and QUOTEFLOW_KAFKA_SASL_PASSWORD")
        kind = {
            "PLAIN": SASLPlaintext,
            "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512,
        }[settings.kafka_sasl_mechanism]
        return kind(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            use_ssl=context is not None,
        )
    if context is not None:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def kafka_client_kwargs(settings: Settings, client_id: str | None = None) -> dict[str, Any]:
    """Connection options for plain aiokafka clients (admin, collectors), equivalent to :func:`broker_security`."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if client_id:
        kwargs["client_id"] = client_id
    context = _ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        )
    return kwargs


class _TopicsCreatedByUs(logging.Filter):
    """faststream warns on every start that auto-creation is off; we create topics ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Auto create topics is disabled" not in record.getMessage()


def _spans_except_batches(message: Any) -> Any:
    """Telemetry settings for single records and publishes; batches get no span of their own.

    A batch span would start a new trace linking many e-mails; MessageGuard opens one
    ``<topic> process`` span per record instead, continuing each record's own trace.
    """
    if isinstance(message, tuple):
        return None
    return telemetry_attributes_provider_factory(message)


class QuoteFlowTelemetryMiddleware(TelemetryMiddleware[KafkaPublishCommand]):
    """faststream's Kafka telemetry middleware, with batch consume spans left to MessageGuard."""

    def __init__(self, *, tracer_provider: TracerProvider) -> None:
        super().__init__(
            settings_provider_factory=_spans_except_batches,
            tracer_provider=tracer_provider,
            include_messages_counters=True,
        )


def broker_options(settings: Settings, telemetry: Telemetry, metrics: Metrics | None = None) -> dict[str, Any]:
    """The keyword arguments of every QuoteFlow KafkaBroker (also of faststream's FastAPI ``KafkaRouter``,
    which builds its broker from them): producer policy, security, tracing and metrics middlewares."""
    middlewares: list[Any] = [QuoteFlowTelemetryMiddleware(tracer_provider=telemetry.tracer_provider)]
    if metrics is not None:
        middlewares.append(
            KafkaPrometheusMiddleware(
                registry=metrics.registry, app_name=settings.service_name, metrics_prefix="quoteflow"
            )
        )
    return {
        "client_id": settings.service_name,
        "acks": "all",
        "enable_idempotence": settings.producer_idempotence,
        "max_request_size": settings.kafka_max_message_bytes,
        "linger_ms": 1,
        "max_batch_size": settings.kafka_max_batch_bytes,
        "allow_auto_create_topics": False,
        "security": broker_security(settings),
        "middlewares": middlewares,
        "graceful_timeout": 30.0,
        "logger": _broker_logger(settings.service_name),
        "log_level": logging.DEBUG,
    }


def build_broker(settings: Settings, telemetry: Telemetry, metrics: Metrics | None = None) -> KafkaBroker:
    """The service's KafkaBroker (publisher + subscribers), traced (and measured) by faststream's middlewares."""
    if settings.kafka_bootstrap is None:
        raise ValueError("kafka_bootstrap is not set: start the embedded stack first")
    return KafkaBroker(settings.kafka_bootstrap, **broker_options(settings, telemetry, metrics))


def _broker_logger(service_name: str) -> logging.Logger:
    broker_logger = logging.getLogger(f"quoteflow.{service_name}.broker")
    if not any(isinstance(f, _TopicsCreatedByUs) for f in broker_logger.filters):
        broker_logger.addFilter(_TopicsCreatedByUs())
    return broker_logger


def _readable_headers(record: Any) -> Any:
    """The record with header values faststream can decode (invalid UTF-8 replaced, None as empty).

    faststream decodes every header value strictly while parsing a batch; one bad value
    used to make it drop the whole fetch. The original record still reaches MessageGuard,
    which dead-letters it with the reason (see ``Delivery.unreadable_header``).
    """
    headers = record.headers or ()
    readable = []
    changed = False
    for name, value in headers:
        raw = bytes(value) if value is not None else b""
        try:
            raw.decode()
        except UnicodeDecodeError:
            raw = raw.decode("utf-8", "replace").encode()
        changed = changed or value is None or raw != value
        readable.append((name, raw))
    return dataclasses.replace(record, headers=tuple(readable)) if changed else record


async def tolerant_batch_parser(
    records: tuple[Any, ...], original_parser: Callable[[tuple[Any, ...]], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """faststream's batch parser that never raises on a record's headers, and hands on the original records."""
    message = await original_parser(tuple(_readable_headers(record) for record in records))
    message.raw_message = records
    return message


async def raw_bodies(message: StreamMessage[Any]) -> list[bytes]:
    """Decoder that leaves a batch's bodies undecoded: parsing is ours, so bad input can be dead-lettered."""
    body = message.body
    return [bytes(b) for b in body] if isinstance(body, list) else [bytes(body)]


def subscriber_options(settings: Settings, group_id: str, max_records: int | None = None) -> dict[str, Any]:
    """Consumer options every QuoteFlow subscriber uses (batches, at-least-once, from the beginning)."""
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        # One handler call per fetched batch: framework and tracing overhead per batch, not per record.
        "batch": True,
        "max_records": max_records or settings.consumer_batch_max,
        "batch_timeout_ms": BATCH_POLL_MS,
        # MessageGuard rewinds on failure and OffsetCommitter commits processed offsets.
        "ack_policy": AckPolicy.MANUAL,
        "max_poll_interval_ms": settings.kafka_max_poll_interval_ms,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "fetch_min_bytes": settings.kafka_fetch_min_bytes,
        "max_partition_fetch_bytes": settings.kafka_max_message_bytes,
        "fetch_max_bytes": settings.kafka_max_message_bytes,
        # Parsing is ours too: a record faststream cannot read must reach MessageGuard (and its DLQ).
        "parser": tolerant_batch_parser,
        "decoder": raw_bodies,
    }


async def ensure_topics(settings: Settings, topics: tuple[str, ...] | list[str]) -> list[str]:
    """Create the missing topics; returns those created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings, f"{settings.service_name}-admin"))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(t, settings.kafka_partitions, settings.kafka_replication_factor) for t in missing]
        )
        created = []
        for topic, code, message in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif code != TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {topic}: error {code} {message}")
        logger.info("created topics %s", created)
        return created
    finally:
        await admin.close()
