"""Extract handler: quoteflow.threads.normalized → quoteflow.facts.extracted."""

from __future__ import annotations

import itertools
import logging
from typing import Any

from opentelemetry import trace

from services.extract.burst import BatchPlan, plan_batch, position
from services.extract.engine import Extraction, ExtractionEngine
from services.extract.metrics import extract_metrics, track_llm_usage
from services.extract.settings import ExtractSettings
from shared import topics
from shared.consumer import Delivery, parse_event
from shared.events import FactConfidences, FactsExtracted, KeyFacts, NormalizedThread
from shared.service import ServiceRuntime
from shared.subscribe import BatchSelection, Subscription

logger = logging.getLogger(__name__)

EXTRACT_GROUP = "quoteflow-extract"
NORMALIZED_THREADS = Subscription(
    topics.THREADS_NORMALIZED, EXTRACT_GROUP, title="threads.normalized", description="Normalized threads from ingest."
)


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
        confidence=FactConfidences(facts=extraction.confidence) if extraction.confidence is not None else None,
        warnings=warnings,
        needs_review=needs_review,
    )


def register(runtime: ServiceRuntime, settings: ExtractSettings, engine: ExtractionEngine) -> None:
    """Subscribe extract to normalized threads on the runtime's broker.

    Each fetched batch is planned first (:mod:`services.extract.burst`): versions of a thread
    superseded by a newer one in the batch are committed without an event, and past the LLM
    time budget the rest of a partition is fetched again later.
    """
    tracer = runtime.telemetry.tracer
    service_name, own_metrics = runtime.metrics.service, extract_metrics(runtime.metrics.registry)
    turns = itertools.count()
    publisher = runtime.publisher(
        topics.FACTS_EXTRACTED,
        title="facts.extracted",
        description="Key facts, summary and tags of a thread, with the engine that produced them.",
        schema=FactsExtracted,
    )

    async def select(records: list[Any]) -> BatchSelection:
        plan = plan_batch(records, max_extractions=settings.records_per_batch(), first_partition=next(turns))

        async def run(delivery: Delivery) -> None:
            await process(plan, delivery)

        return BatchSelection(now=plan.now, later=plan.handed_back, process=run)

    async def process(plan: BatchPlan, delivery: Delivery) -> None:
        where = position(delivery.record)
        if (newer := plan.superseded.get(where)) is not None:
            trace.get_current_span().set_attribute("quoteflow.extract.superseded_by_offset", newer[2])
            logger.debug("%s[%d]@%d superseded by the version at offset %d", *where, newer[2])
            own_metrics.superseded.labels(service_name).inc()
            return
        thread = plan.threads.pop(where, None) or parse_event(NormalizedThread, delivery.body)
        with tracer.start_as_current_span("extract.engine") as span:
            span.set_attribute("quoteflow.engine", engine.name)
            span.set_attribute("quoteflow.thread.messages", len(thread.messages))
            with track_llm_usage() as usage:
                extraction = await engine.extract(thread)
            if extraction.adapter_id:
                span.set_attribute("quoteflow.llm.adapter_id", extraction.adapter_id)
            if engine.name != "rules":
                span.set_attribute("quoteflow.llm.calls", usage.calls)
                span.set_attribute("quoteflow.llm.prompt_tokens", usage.prompt_tokens)
                span.set_attribute("quoteflow.llm.generated_tokens", usage.generated_tokens)
                own_metrics.observe_thread(service_name, usage)
        event = to_event(thread, extraction)
        await publisher.publish(event, key=thread.thread_id, tenant=thread.tenant)

    # An LLM extraction's time budget starts before it waits for the engine's request slots: records of a
    # partition overlap only under the rules engine.
    runtime.subscribe(NORMALIZED_THREADS, planner=select, concurrency=None if engine.name == "rules" else 1)
