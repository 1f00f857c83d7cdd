"""The extractor's confidence per fact on the quote: a low-confidence price is printed but to be confirmed."""

from __future__ import annotations

from services.quote.plausible import MIN_FACT_CONFIDENCE, low_confidence_facts
from services.quote.render import render_quote
from services.quote.settings import QuoteSettings
from shared.events import FactConfidence, FactConfidences, FactsExtracted
from tests.services.quote.conftest import ISSUE_DATE, SLOT


def with_confidence(event: FactsExtracted, **scores: float) -> FactsExtracted:
    facts = {path.replace("__", "."): FactConfidence(source="sentence", score=s) for path, s in scores.items()}
    return event.model_copy(update={"confidence": FactConfidences(facts=facts)})


def test_a_low_confidence_price_puts_the_quote_into_review(talk_event: FactsExtracted) -> None:
    doubtful = with_confidence(talk_event, items__0__unit_price=MIN_FACT_CONFIDENCE - 0.1, payment_terms=0.9)
    rendered = render_quote(doubtful, SLOT, QuoteSettings(), ISSUE_DATE)
    assert rendered.needs_review
    assert rendered.missing_fields == ["items.0.unit_price"] and rendered.low_confidence == ["items.0.unit_price"]
    assert "9,500원" in rendered.markdown  # printed, not hidden: the reviewer confirms it
    assert "품목 1 단가 (추출 신뢰도 낮음)" in rendered.markdown


def test_confident_facts_and_unscored_events_do_not_add_review(talk_event: FactsExtracted) -> None:
    confident = with_confidence(talk_event, items__0__unit_price=0.9, currency=0.7)
    assert not render_quote(confident, SLOT, QuoteSettings(), ISSUE_DATE).needs_review
    assert talk_event.confidence is None  # an event from before confidence existed still parses
    assert not render_quote(talk_event, SLOT, QuoteSettings(), ISSUE_DATE).needs_review


def test_only_quoted_facts_are_doubted(talk_event: FactsExtracted) -> None:
    scored = with_confidence(talk_event, buyer__email=0.1, items__0__quantity=0.2, budget=0.1)
    assert low_confidence_facts(scored.facts, scored.confidence) == ["items.0.quantity"]
