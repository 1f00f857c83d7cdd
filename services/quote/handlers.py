"""Quote handler: quoteflow.facts.extracted → quoteflow.quotes.generated.

At least once, never a second number: the slot (number + revision) is claimed in
Redis, the document is published, and only then is the revision recorded. A
redelivered message therefore republishes the same number and revision; facts older
than those already quoted (a replay) publish nothing and are counted
(``quoteflow_quote_stale_facts``). See services/quote/numbering.py for the order rules.

Corrections (quoteflow.facts.corrected, e.g. from the review desk) make a new revision too:
the corrected facts are rendered with the rest of the thread's last extraction (language, VAT,
Incoterm place), ordered as that thread version at the time of the correction, so the
correction outranks its own extraction and its redeliveries, and the next message's
extraction outranks the correction. Approving the facts as they are makes no revision.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import CollectorRegistry, Counter

from services.quote.numbering import QuoteBook, QuoteSlot, Verdict
from services.quote.render import QuoteRenderer, pdf_path, render_pdf, render_quote
from services.quote.settings import QuoteSettings
from shared import topics
from shared.consumer import Delivery, TransientError, parse_event
from shared.events import FactsCorrected, FactsExtracted, QuoteGenerated
from shared.service import ServiceRuntime
from shared.subscribe import Subscription

logger = logging.getLogger(__name__)

QUOTE_GROUP = "quoteflow-quote"
QUOTE_CORRECTIONS_GROUP = "quoteflow-quote-corrections"
EXTRACTED_FACTS = Subscription(
    topics.FACTS_EXTRACTED, QUOTE_GROUP, title="facts.extracted", description="Extraction results from extract."
)
CORRECTED_FACTS = Subscription(
    topics.FACTS_CORRECTED,
    QUOTE_CORRECTIONS_GROUP,
    title="facts.corrected",
    description="Corrected key facts (the review desk, downstream systems): a new revision of the quote.",
)


class UnknownThread(Exception):
    """A correction for a thread quote has no facts of: retried (QUOTEFLOW_MAX_ATTEMPTS), then dead-lettered."""


def facts_key(tenant: str, thread_id: str) -> str:
    """The last FactsExtracted quote rendered or decided on for a thread: what a correction is rendered with."""
    return f"quote:{tenant}:{thread_id}:facts"


def corrected_event(correction: FactsCorrected, extracted: FactsExtracted) -> FactsExtracted:
    """The thread's extraction with the corrected facts: a person checked them, so no review is asked for."""
    return extracted.model_copy(
        update={
            "facts": correction.facts,
            "thread_version": correction.thread_version or extracted.thread_version,
            "thread_started_at": correction.thread_started_at or extracted.thread_started_at,
            "extracted_at": correction.corrected_at,
            "needs_review": False,
            "warnings": [],
            "summary": correction.summary if correction.summary is not None else extracted.summary,
            "tags": correction.tags if correction.tags is not None else extracted.tags,
        }
    )


_STALE_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def stale_facts_counter(registry: CollectorRegistry) -> Counter:
    """``quoteflow_quote_stale_facts``: facts older than those already quoted, dropped (one per registry)."""
    if (found := _STALE_COUNTERS.get(registry)) is not None:
        return found
    counter = Counter(
        "quoteflow_quote_stale_facts",
        "Facts older than the newest already quoted for their thread (replays, redeliveries): no revision.",
        ["service", "reason"],
        registry=registry,
    )
    _STALE_COUNTERS[registry] = counter
    return counter


def build_quote_event(
    event: FactsExtracted,
    slot: QuoteSlot,
    settings: QuoteSettings,
    today: date,
    renderer: QuoteRenderer | None = None,
) -> QuoteGenerated:
    """Render the document for one slot and wrap it in the public event."""
    rendered = renderer.render(event, slot, today) if renderer else render_quote(event, slot, settings, today)
    return QuoteGenerated(
        thread_id=event.thread_id,
        tenant=event.tenant,
        quote_number=slot.quote_number,
        revision=slot.revision,
        language="ko" if rendered.language == "ko" else "en",
        currency=rendered.currency,
        lines=rendered.lines,
        subtotal=rendered.subtotal,
        vat=rendered.vat,
        total=rendered.total,
        markdown=rendered.markdown,
        html=rendered.html,
        needs_review=rendered.needs_review or event.needs_review,
        missing_fields=rendered.missing_fields,
        facts_hash=event.facts.content_hash(),
        issue_date=rendered.issue_date,
        valid_until=rendered.valid_until,
        vat_mode=rendered.event_vat_mode,
        engine=event.engine,
    )


def local_today(timezone: str) -> Callable[[], date]:
    """'Today' in the tenant's business time zone (a quote issued at 08:00 KST is dated in Korea)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r} (QUOTEFLOW_TIMEZONE)") from exc
    return lambda: datetime.now(zone).date()


async def write_pdf(settings: QuoteSettings, quote: QuoteGenerated) -> QuoteGenerated:
    """Print the quote to ``pdf_dir`` (in a worker thread: WeasyPrint takes a noticeable time).

    Returns the event with ``pdf_path`` (absolute) filled in, or unchanged when PDFs are off.
    """
    if settings.pdf_dir is None:
        return quote
    path = pdf_path(settings.pdf_dir, quote.tenant, quote.quote_number, quote.revision).absolute()
    pdf = await asyncio.to_thread(render_pdf, quote.html)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".pdf.tmp")
    temporary.write_bytes(pdf)
    temporary.replace(path)
    return quote.model_copy(update={"pdf_path": str(path)})


def register(runtime: ServiceRuntime, settings: QuoteSettings, today: Callable[[], date] = date.today) -> None:
    """Subscribe quote to extracted facts on the runtime's broker."""
    book = QuoteBook(runtime.store)
    renderer = QuoteRenderer(settings)
    service_name, stale = runtime.metrics.service, stale_facts_counter(runtime.metrics.registry)
    tracer = runtime.telemetry.tracer
    publisher = runtime.publisher(
        topics.QUOTES_GENERATED,
        title="quotes.generated",
        description="Rendered quote documents (Markdown and HTML) with totals and revision.",
        schema=QuoteGenerated,
    )

    async def process(delivery: Delivery) -> None:
        # Remembered as it arrived (it is valid): no second serialisation of the event per message.
        await render_and_publish(parse_event(FactsExtracted, delivery.body), remember=delivery.body)

    async def process_correction(delivery: Delivery) -> None:
        correction = parse_event(FactsCorrected, delivery.body)
        raw = await runtime.store.get(facts_key(correction.tenant, correction.thread_id))
        if raw is None and await book.claim_pending(correction.tenant, correction.thread_id):
            raise TransientError(f"the first quote of {correction.thread_id} is being published: try again")
        if raw is None:  # not yet seen (quote lags behind the desk) or never: retried, then dead-lettered
            raise UnknownThread(
                f"correction for thread {correction.thread_id!r} (tenant {correction.tenant!r}) "
                "that quote has no facts of"
            )
        await render_and_publish(corrected_event(correction, FactsExtracted.model_validate_json(raw)), remember=None)

    async def render_and_publish(event: FactsExtracted, *, remember: bytes | None) -> None:
        """``remember``: the event's JSON to keep as the thread's latest facts (what corrections apply to)."""
        facts_hash = event.facts.content_hash()
        issued = today()
        decision = await book.next_slot(
            event.tenant,
            event.thread_id,
            facts_hash,
            issued,
            thread_version=event.thread_version,
            extracted_at=event.extracted_at,
            thread_started_at=event.thread_started_at,
        )
        if decision.verdict is Verdict.STALE:
            logger.warning("stale facts for %s, no revision: %s", event.thread_id, decision.detail)
            stale.labels(service_name, decision.reason).inc()
            return
        if decision.slot is None:
            if remember is not None:
                await runtime.store.set(facts_key(event.tenant, event.thread_id), remember)
            logger.info("facts unchanged for %s: no new revision", event.thread_id)
            return
        slot = decision.slot
        try:
            with tracer.start_as_current_span("quote.render") as span:
                span.set_attribute("quoteflow.quote.number", slot.quote_number)
                span.set_attribute("quoteflow.quote.revision", slot.revision)
                quote = build_quote_event(event, slot, settings, issued, renderer)
                span.set_attribute("quoteflow.quote.needs_review", quote.needs_review)
            quote = await write_pdf(settings, quote)
        except Exception:
            await book.release(event.tenant, event.thread_id, decision)  # nothing went out: no revision gap
            raise
        await publisher.publish(quote, key=event.thread_id, tenant=event.tenant)
        # The facts are remembered after the publish: a correction's revision never overtakes this one.
        remembered = {facts_key(event.tenant, event.thread_id): remember} if remember is not None else None
        await book.record(event.tenant, event.thread_id, slot, facts_hash, claimed=decision.claim, also_set=remembered)

    runtime.subscribe(EXTRACTED_FACTS, process)
    runtime.subscribe(CORRECTED_FACTS, process_correction)
