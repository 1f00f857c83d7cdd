"""Review desk consumers: facts and quotes into review records (quoteflow.facts.extracted, quotes.generated).

Each record keeps the newest facts of its thread (quote's order: thread start, version,
extraction time; older facts change nothing), every quote revision, and a status:
``needs_review`` (a reason to look: extract or quote flagged it, low confidence, the engines
disagree, a party from a new domain), ``pending`` (nothing flagged, waiting for a person),
``auto_approved`` (the tenant's threshold let it skip the queue), or a person's decision.
New facts of a later thread version reopen a decided thread; the same facts again do not.
Auto-approval publishes nothing: only facts a person checked become FactsCorrected (curated
training data).
"""

from __future__ import annotations

import logging
import warnings

from services.review.records import (
    DECIDED_STATUSES,
    MAX_QUOTE_REVISIONS,
    AuditEntry,
    Decision,
    QuoteRevision,
    ReviewBook,
    ReviewRecord,
    assess,
)
from services.review.settings import ReviewSettings
from shared import topics
from shared.consumer import Delivery, PermanentError, parse_event
from shared.events import FactsExtracted, NormalizedThread, QuoteGenerated
from shared.keys import thread_key
from shared.ordering import FactsOrder
from shared.service import ServiceRuntime
from shared.store import Store
from shared.subscribe import Subscription
from shared.tenants import UnsafeNameError, check_plain_name

with warnings.catch_warnings():  # faststream 0.7 announces the integration's move to faststream_fastapi
    warnings.simplefilter("ignore", DeprecationWarning)
    from faststream.kafka.fastapi import KafkaRouter

logger = logging.getLogger(__name__)

REVIEW_FACTS_GROUP = "quoteflow-review-facts"
REVIEW_QUOTES_GROUP = "quoteflow-review-quotes"
EXTRACTED_FACTS = Subscription(
    topics.FACTS_EXTRACTED,
    REVIEW_FACTS_GROUP,
    title="facts.extracted",
    description="Extracted facts with evidence: a review record per thread.",
)
GENERATED_QUOTES = Subscription(
    topics.QUOTES_GENERATED,
    REVIEW_QUOTES_GROUP,
    title="quotes.generated",
    description="Quote revisions shown beside the facts.",
)
AUTO_APPROVER = "auto-approval"


def _order(event: FactsExtracted) -> FactsOrder:
    return FactsOrder(event.thread_version, event.extracted_at, event.thread_started_at)


async def load_thread(store: Store, tenant: str, thread_id: str) -> NormalizedThread | None:
    """The thread as ingest keeps it (None when ingest's state expired or is unreadable)."""
    raw = await store.get(thread_key(tenant, thread_id))
    if raw is None:
        return None
    try:
        return NormalizedThread.model_validate_json(raw)
    except ValueError:
        logger.warning("stored thread %s of %s is not a NormalizedThread", thread_id, tenant)
        return None


def _checked_id(thread_id: str) -> str:
    try:
        return check_plain_name(thread_id, "thread id")
    except UnsafeNameError as exc:  # a key or a URL built from it would be ambiguous
        raise PermanentError(str(exc)) from exc


def apply_facts(
    record: ReviewRecord | None, event: FactsExtracted, thread: NormalizedThread | None, settings: ReviewSettings
) -> ReviewRecord | None:
    """The record with these facts, or None when they are older than the facts it has."""
    if record is not None and record.facts is not None and _order(event).older_than(_order(record.facts)):
        return None
    record = record or ReviewRecord(tenant=event.tenant, thread_id=event.thread_id)
    facts_hash = event.facts.content_hash()
    quote = next((q for q in sorted(record.quotes, key=lambda q: -q.revision) if q.facts_hash == facts_hash), None)
    verdict = assess(event, settings, quote, thread)
    update: dict[str, object] = {
        "facts": event,
        "subject": (thread.subject if thread else "") or record.subject,
        "reasons": verdict.reasons,
        "confidence": verdict.confidence,
        "field_confidence": verdict.fields,
    }
    decision = record.decision
    previous = record.facts
    redelivered = (
        previous is not None
        and previous.thread_version == event.thread_version
        and previous.facts.content_hash() == facts_hash
    )
    kept = decision is not None and (
        redelivered  # the facts the decision was made on, again
        or decision.facts_hash == facts_hash  # extracted as a person approved them
        or (decision.action == "rejected" and decision.thread_version == event.thread_version)
    )
    if not kept:
        if verdict.auto_approvable:
            update["status"] = "auto_approved"
            update["decision"] = Decision(
                action="auto_approved", by=AUTO_APPROVER, facts_hash=facts_hash, thread_version=event.thread_version
            )
        else:
            update["status"] = "needs_review" if verdict.reasons else "pending"
            update["decision"] = None
    return record.model_copy(update=update)


def apply_quote(record: ReviewRecord | None, quote: QuoteGenerated, settings: ReviewSettings) -> ReviewRecord:
    """The record with this quote revision (a repeat replaces itself); the status follows what the quote says."""
    record = record or ReviewRecord(tenant=quote.tenant, thread_id=quote.thread_id, status="pending")
    revision = QuoteRevision.of(quote)
    quotes = [q for q in record.quotes if q.revision != revision.revision] + [revision]
    quotes = sorted(quotes, key=lambda q: q.revision)[-MAX_QUOTE_REVISIONS:]
    update: dict[str, object] = {"quotes": quotes}
    facts = record.facts
    if facts is not None and facts.facts.content_hash() == quote.facts_hash and record.status not in DECIDED_STATUSES:
        verdict = assess(facts, settings, revision)
        update |= {"reasons": verdict.reasons, "confidence": verdict.confidence}
        if record.status == "auto_approved" and not verdict.auto_approvable:
            update |= {"status": "needs_review" if verdict.reasons else "pending", "decision": None}
        elif record.status != "auto_approved":
            update["status"] = "needs_review" if verdict.reasons else "pending"
    return record.model_copy(update=update)


def register(runtime: ServiceRuntime, router: KafkaRouter, settings: ReviewSettings, book: ReviewBook) -> None:
    """Subscribe the desk to extracted facts and generated quotes (FastAPI-integrated subscribers)."""

    async def process_facts(delivery: Delivery) -> None:
        event = parse_event(FactsExtracted, delivery.body)
        _checked_id(event.thread_id)
        thread = await load_thread(runtime.store, event.tenant, event.thread_id)
        before = await book.get(event.tenant, event.thread_id)
        record = await book.update(
            event.tenant, event.thread_id, lambda current: apply_facts(current, event, thread, settings)
        )
        if (
            record is not None
            and record.status == "auto_approved"
            and (before is None or before.decision != record.decision)
        ):
            await book.audit(
                event.tenant,
                event.thread_id,
                [AuditEntry(who=AUTO_APPROVER, action="auto_approved", note=f"confidence {record.confidence:.2f}")],
            )

    async def process_quote(delivery: Delivery) -> None:
        quote = parse_event(QuoteGenerated, delivery.body)
        _checked_id(quote.thread_id)
        await book.update(quote.tenant, quote.thread_id, lambda current: apply_quote(current, quote, settings))

    runtime.subscribe(EXTRACTED_FACTS, process_facts, router=router)
    runtime.subscribe(GENERATED_QUOTES, process_quote, router=router)
