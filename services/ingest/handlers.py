"""Ingest handler: quoteflow.emails.raw → quoteflow.threads.normalized."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Status, StatusCode

from services.ingest.normalize import BadEmail, IncomingEmail, normalize_event, normalize_raw
from services.ingest.outlook import outlook_kind
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from shared import topics
from shared.consumer import Delivery, parse_event
from shared.events import EmailEvent, NormalizedThread
from shared.service import ServiceRuntime
from shared.subscribe import BatchSelection, Subscription

logger = logging.getLogger(__name__)

INGEST_GROUP = "quoteflow-ingest"
RAW_EMAILS = Subscription(
    topics.EMAILS_RAW, INGEST_GROUP, title="emails.raw", description="Raw RFC 5322 bytes or a JSON EmailEvent."
)


@dataclass(frozen=True)
class Decoded:
    """A record decoded ahead of its turn: the message, or the error decoding raised, and when it ran."""

    outcome: IncomingEmail | Exception
    started_ns: int
    ended_ns: int

    def result(self) -> IncomingEmail:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def decode_incoming(body: bytes, settings: IngestSettings, *, tenant: str | None, arrival: int) -> IncomingEmail:
    """A JSON e-mail event if the payload is a JSON object, otherwise raw RFC 5322 bytes."""
    if tenant is not None:
        from shared.tenants import InvalidTenantError, check_tenant

        try:
            check_tenant(tenant)
        except InvalidTenantError as exc:  # never a key or folder name: dead-letter the record
            raise BadEmail(f"{exc} (header x-quoteflow-tenant)") from exc
    if len(body) > settings.max_email_bytes:
        raise BadEmail(f"message of {len(body)} bytes exceeds the limit of {settings.max_email_bytes}")
    if body.lstrip()[:1] == b"{":
        event = parse_event(EmailEvent, body)
        return normalize_event(
            _with_tenant(event, tenant, settings), settings, arrival=arrival, received_at=_received(arrival)
        )
    if b"\0" in body[:4096] and outlook_kind(body) is None:
        raise BadEmail("binary data, not an e-mail")
    return normalize_raw(body, settings, tenant=tenant, arrival=arrival, received_at=_received(arrival))


def _received(timestamp_ms: int) -> datetime | None:
    """The Kafka record's time stamp (ms) as the time the pipeline received the message; None when unset."""
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms > 0 else None


def _with_tenant(event: EmailEvent, header: str | None, settings: IngestSettings) -> EmailEvent:
    """The event with its tenant settled: the one it names, else the header's, else QUOTEFLOW_TENANT.

    The model's default ("default") must not count as naming one, or an event without a
    tenant would land in the default tenant instead of the configured one. An event naming
    a tenant its header contradicts is refused: either could be the wrong one, and
    guessing would put one tenant's mail into another's threads.
    """
    named = event.tenant if "tenant" in event.model_fields_set else None
    if named is not None and header is not None and named != header:
        raise BadEmail(f"the event names tenant {named!r} but its x-quoteflow-tenant header says {header!r}")
    chosen = named or header or settings.tenant
    return event if chosen == event.tenant else event.model_copy(update={"tenant": chosen})


def register(runtime: ServiceRuntime, settings: IngestSettings) -> None:
    """Subscribe ingest to the raw topic on the runtime's broker."""
    repository = ThreadRepository(runtime.store, settings)
    if settings.read_attachments and settings.attachment_sandbox:
        from services.ingest.attachments.sandbox import POOL

        POOL.warm(settings.attachment_memory_mb)
    tracer = runtime.telemetry.tracer
    publisher = runtime.publisher(
        topics.THREADS_NORMALIZED,
        title="threads.normalized",
        description="The conversation so far, with sender roles and only new text.",
        schema=NormalizedThread,
    )

    def decode(delivery: Delivery) -> IncomingEmail:
        return decode_incoming(delivery.body, settings, tenant=delivery.tenant, arrival=delivery.timestamp_ms)

    def decode_small(records: list[Any]) -> dict[tuple[int, int], Decoded]:
        """Decode the batch's small records in one go (in a worker thread): each result or error, timed."""
        decoded: dict[tuple[int, int], Decoded] = {}
        for record in records:
            delivery, started = Delivery(record), time.time_ns()
            try:
                outcome: IncomingEmail | Exception = decode(delivery)
            except Exception as exc:  # raised again when the record is processed: the guard sorts it
                outcome = exc
            decoded[(int(record.partition), int(record.offset))] = Decoded(outcome, started, time.time_ns())
        return decoded

    async def plan(records: list[Any]) -> BatchSelection:
        # CPU-bound (MIME, charsets, HTML): in worker threads, so a big mail does not stall the event loop,
        # Kafka heartbeats or the other partitions of the batch; small ones share one hop.
        small = [r for r in records if len(r.value or b"") <= settings.batch_decode_max_bytes]
        decoded = await asyncio.to_thread(decode_small, small) if small else {}

        async def run(delivery: Delivery) -> None:
            record = delivery.record
            await process(delivery, decoded.pop((int(record.partition), int(record.offset)), None))

        return BatchSelection(now=records, later=(), process=run)

    async def process(delivery: Delivery, decoded: Decoded | None) -> None:
        if decoded is None:
            with tracer.start_as_current_span("ingest.normalize") as span:
                incoming = await asyncio.to_thread(decode, delivery)
                span.set_attribute("quoteflow.message.language", incoming.message.language)
        else:
            # Decoded with its batch before this record's turn: the span keeps the real times.
            span = tracer.start_span("ingest.normalize", start_time=decoded.started_ns)
            try:
                incoming = decoded.result()
                span.set_attribute("quoteflow.message.language", incoming.message.language)
            except Exception as exc:  # as start_as_current_span would record it
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                span.end(end_time=decoded.ended_ns)
        # One message of a thread at a time: replies arriving together on different
        # partitions must not overwrite each other's thread state; copies of one message
        # meet on its Message-ID claim.
        async with repository.locked(incoming) as held:
            reason = await repository.duplicate_reason(incoming, held.state)
            if reason is not None:
                logger.info(
                    "duplicate message %s dropped: the same %s was processed before",
                    incoming.message.message_id,
                    "Message-ID" if reason == "message_id" else "raw bytes",
                )
                runtime.metrics.duplicates_dropped.labels(runtime.metrics.service, reason).inc()
                return
            with tracer.start_as_current_span("ingest.assemble_thread"):
                thread = await repository.assemble(incoming, held.thread_id, held.state)
            await publisher.publish(thread, key=thread.thread_id, tenant=thread.tenant)
            await repository.commit(incoming, thread, held.state)

    runtime.subscribe(RAW_EMAILS, planner=plan)
