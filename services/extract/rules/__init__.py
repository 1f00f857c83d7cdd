"""The deterministic extraction engine ("rules"): Korean and English mail threads → key facts, summary, tags.

No model and no network: regular expressions for money, quantities, dates and trade
terms, then a negotiation tracker that resolves offers and counter-offers to the
latest terms on the table (SPEC.md §1). Every value carries evidence (message id and
character span). Construction is cheap; the keyword tagger loads kiwipiepy lazily.
"""

from __future__ import annotations

import logging

from services.extract.engine import Extraction
from services.extract.rules.engine import empty_extraction, extract_facts
from services.extract.rules.summary import summarize
from services.extract.rules.tags import tag_thread
from shared.events import NormalizedThread

logger = logging.getLogger(__name__)

__all__ = ["RulesEngine"]


class RulesEngine:
    """Regex and resolution rules; deterministic, no model, runs anywhere."""

    name = "rules"

    async def extract(self, thread: NormalizedThread) -> Extraction:
        return self.extract_sync(thread)

    def extract_sync(self, thread: NormalizedThread) -> Extraction:
        """Key facts, summary and tags of one thread; odd input gives warnings, never an exception."""
        if not thread.messages:
            return empty_extraction("thread has no messages")
        try:
            views, state, resolved = extract_facts(thread)
        except Exception as error:  # a bug must not take the consumer down; the thread goes to review
            logger.exception("rules engine failed on thread %s", thread.thread_id)
            return empty_extraction(f"rules engine error: {type(error).__name__}: {error}")
        summary = summarize(thread, views, state, resolved)
        tags = tag_thread(thread, views, state, resolved)
        return Extraction(
            facts=resolved.facts,
            vat_status=resolved.vat,
            incoterm_place=resolved.incoterm_place,
            summary=summary,
            tags=tags,
            evidence=resolved.evidence,
            warnings=resolved.warnings,
            needs_review=resolved.needs_review,
            engine="rules",
            confidence=resolved.confidence,
        )
