"""Extract handler: quoteflow.threads.normalized → quoteflow.facts.extracted."""

from __future__ import annotations

import logging

from faststream.kafka.annotations import KafkaMessage

from services.extract.engine import Extraction, ExtractionEngine
from services.extract.settings import ExtractSettings
from shared import topics
from shared.broker import subscriber_options
from shared.consumer import Delivery, MessageGuard, parse_event, publish_event
from shared.events import FactsExtracted, KeyFacts, NormalizedThread
from shared.service import ServiceRuntime

logger = logging.getLogger(__name__)

EXTRACT_GROUP = "quoteflow-extract"


def bears_prices(facts: KeyFacts) -> bool:
    """Facts a wrong party or a wrong role would turn into a wrong quote: prices, discounts, payment terms."""
    priced = any(i.unit_price is not None or i.discount_percent is not None for i in facts.items)
    return priced or facts.payment_terms is not None


def to_event(thread: NormalizedThread, extraction: Extraction) -> FactsExtracted:
    """The facts.extracted event for one thread version; ingest's review reasons make price-bearing facts
    need review (with the reasons as warnings)."""
    warnings, needs_review = extraction.warnings, extraction.needs_review
    if thread.review_reasons and bears_prices(extraction.facts):
        warnings = [*warnings, *(f"prices need review: {reason}" for reason in thread.review_reasons)]
        needs_review = True
    return FactsExtracted(
        thread_id=thread.thread_id,
        tenant=thread.tenant,
        thread_version=thread.version,
        thread_started_at=thread.started_at,
        language=thread.language,
        facts=extraction.facts,
        vat_status=extraction.vat_status,
        incoterm_place=extraction.incoterm_place,
        summary=extraction.summary,
        tags=extraction.tags,
        engine=extraction.engine,
        model=extraction.model,
        adapter_id=extraction.adapter_id,
        evidence=extraction.evidence,
        value_sources=extraction.sources(),
        warnings=warnings,
        needs_review=needs_review,
    )


def register(runtime: ServiceRuntime, settings: ExtractSettings, engine: ExtractionEngine) -> None:
    """Subscribe extract to normalized threads on the runtime's broker."""
    broker = runtime.broker
    tracer = runtime.telemetry.tracer
    guard = MessageGuard(broker, settings, topics.THREADS_NORMALIZED, tracer, group_id=EXTRACT_GROUP)
    publisher = broker.publisher(
        topics.FACTS_EXTRACTED,
        title="facts.extracted",
        description="Key facts, summary and tags of a thread, with the engine that produced them.",
        schema=FactsExtracted,
    )

    @broker.subscriber(
        topics.THREADS_NORMALIZED,
        title="threads.normalized",
        description="Normalized threads from ingest.",
        **subscriber_options(settings, group_id=EXTRACT_GROUP, max_records=settings.records_per_batch()),
    )
    async def on_threads(bodies: list[bytes], msg: KafkaMessage) -> None:
        await guard.run_batch(msg, process)

    async def process(delivery: Delivery) -> None:
        thread = parse_event(NormalizedThread, delivery.body)
        with tracer.start_as_current_span("extract.engine") as span:
            span.set_attribute("quoteflow.engine", engine.name)
            span.set_attribute("quoteflow.thread.messages", len(thread.messages))
            extraction = await engine.extract(thread)
            if extraction.adapter_id:
                span.set_attribute("quoteflow.llm.adapter_id", extraction.adapter_id)
        event = to_event(thread, extraction)
        await publish_event(publisher, event, key=thread.thread_id, tenant=thread.tenant)
