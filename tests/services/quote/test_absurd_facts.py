"""Absurd facts never render as fine: out-of-range or impossible values are 'to be confirmed' and need review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.quote.render import QuoteRenderer, RenderedQuote
from services.quote.settings import QuoteSettings
from shared.events import FactsExtracted, KeyFacts, LineItem, Party
from tests.services.quote.conftest import ISSUE_DATE, SLOT

TBC_KO, TBC_EN = "확인 필요", "To be confirmed"


def _facts(**overrides: object) -> KeyFacts:
    """Complete, plausible facts (no review needed) with the given fields replaced."""
    base = KeyFacts(
        buyer=Party(company="한빛무역"),
        supplier=Party(company="대한정밀"),
        currency="KRW",
        items=[LineItem(product="볼트", quantity=100, unit="개", unit_price=9500)],
        delivery_lead_time_days=14,
    )
    return base.model_copy(update=overrides)


def _item(**overrides: object) -> LineItem:
    return LineItem(product="볼트", quantity=100, unit="개", unit_price=9500).model_copy(update=overrides)


def _render(facts: KeyFacts, language: str = "ko") -> RenderedQuote:
    event = FactsExtracted(thread_id="t-absurd", language=language, facts=facts)  # type: ignore[arg-type]
    return QuoteRenderer(QuoteSettings()).render(event, SLOT, ISSUE_DATE)


def test_plausible_facts_need_no_review() -> None:
    rendered = _render(_facts())
    assert (rendered.needs_review, rendered.missing_fields, rendered.total) == (False, [], Decimal(1_045_000))


@pytest.mark.parametrize("days", [-100, 10**18, 731])
def test_an_impossible_lead_time_is_to_be_confirmed(days: int) -> None:
    rendered = _render(_facts(delivery_lead_time_days=days))
    assert rendered.needs_review and rendered.missing_fields == ["delivery_lead_time_days"]
    assert str(days) not in rendered.markdown and str(days) not in rendered.html
    assert f"| 납기 | {TBC_KO} |" in rendered.markdown or f"납기: {TBC_KO}" in rendered.markdown


def test_lead_time_bounds_are_inclusive() -> None:
    assert not _render(_facts(delivery_lead_time_days=0)).needs_review
    assert not _render(_facts(delivery_lead_time_days=730)).needs_review


@pytest.mark.parametrize("months", [10**30, -1, 241])
def test_an_impossible_warranty_is_to_be_confirmed(months: int) -> None:
    rendered = _render(_facts(warranty_months=months), language="en")
    assert rendered.needs_review and rendered.missing_fields == ["warranty_months"]
    assert str(months) not in rendered.markdown
    assert f"- Warranty: {TBC_EN}" in rendered.markdown


@pytest.mark.parametrize("text", ["2026-13-45", "2026-02-30", "tomorrow", "9999-12-31", "0001-01-01"])
def test_an_impossible_delivery_date_is_to_be_confirmed(text: str) -> None:
    rendered = _render(_facts(delivery_lead_time_days=None, delivery_date=text), language="en")
    assert rendered.needs_review and rendered.missing_fields == ["delivery_date"]
    assert text not in rendered.markdown and text not in rendered.html
    assert f"- Delivery: {TBC_EN}" in rendered.markdown


def test_a_valid_lead_time_still_shows_beside_an_impossible_date() -> None:
    rendered = _render(_facts(delivery_lead_time_days=14, delivery_date="2026-13-45"), language="en")
    assert rendered.missing_fields == ["delivery_date"]
    assert "- Delivery: Within 14 days after order" in rendered.markdown


def test_a_unit_price_that_rounds_to_nothing_is_to_be_confirmed() -> None:
    rendered = _render(_facts(currency="USD", items=[_item(unit_price=1e-300)]), language="en")
    assert rendered.needs_review and rendered.missing_fields == ["items.0.unit_price"]
    assert rendered.total is None and rendered.lines[0].unit_price is None
    assert "0.00" not in rendered.markdown


def test_a_zero_unit_price_is_to_be_confirmed() -> None:
    rendered = _render(_facts(items=[_item(unit_price=0.0)]))
    assert rendered.missing_fields == ["items.0.unit_price"] and rendered.total is None


@pytest.mark.parametrize("quantity", [1e20, 1e9, -5.0, 0.0, float("nan"), 1e-12])
def test_an_impossible_quantity_is_to_be_confirmed(quantity: float) -> None:
    rendered = _render(_facts(items=[_item(quantity=quantity)]))
    assert rendered.needs_review and rendered.missing_fields == ["items.0.quantity"]
    assert rendered.total is None and rendered.lines[0].quantity is None


@pytest.mark.parametrize("discount", [150.0, 100.0, -10.0])
def test_a_discount_outside_0_to_100_percent_needs_review(discount: float) -> None:
    rendered = _render(_facts(items=[_item(discount_percent=discount)]), language="en")
    assert rendered.needs_review and rendered.missing_fields == ["items.0.discount_percent"]
    assert f"{discount:g}%" not in rendered.markdown and "Before discount" not in rendered.markdown
    assert "discount to be confirmed" in rendered.markdown
    # The unit price is net already: the line is still priced.
    assert rendered.total == Decimal(1_045_000)


def test_float_noise_is_rounded_to_the_currency_and_quantity_precision() -> None:
    noisy = _facts(currency="USD", items=[_item(quantity=0.1 + 0.2, unit_price=0.1 + 0.2), _item(unit_price=20.9)])
    rendered = _render(noisy, language="en")
    assert not rendered.needs_review
    first = rendered.lines[0]
    assert (first.quantity, first.unit_price, first.amount) == (Decimal("0.3"), Decimal("0.3"), Decimal("0.09"))
    assert "0.30000000000000004" not in rendered.markdown and "0.30000000000000004" not in rendered.html
    assert "| 0.3 |" in rendered.markdown and "| $0.30 |" in rendered.markdown
    krw = _render(_facts(items=[_item(quantity=3, unit_price=9500.000000000002)]))
    assert (krw.lines[0].unit_price, krw.lines[0].amount) == (Decimal(9500), Decimal(28_500))


def test_a_sub_cent_unit_price_within_precision_is_kept() -> None:
    rendered = _render(_facts(currency="USD", items=[_item(quantity=3, unit_price=0.125)]), language="en")
    assert not rendered.needs_review
    assert (rendered.lines[0].unit_price, rendered.lines[0].amount) == (Decimal("0.125"), Decimal("0.38"))


def test_a_line_too_large_to_be_an_offer_is_to_be_confirmed() -> None:
    # 10^8 × 10^12 = 10^20 원: not a quote, and beyond what Korean amount words can write.
    rendered = _render(_facts(items=[_item(quantity=1e8, unit_price=1e12)]))
    assert rendered.needs_review and rendered.missing_fields == ["items.0.quantity", "items.0.unit_price"]
    assert rendered.total is None


@pytest.mark.parametrize("moq", [1e20, -3.0])
def test_an_impossible_minimum_order_is_to_be_confirmed(moq: float) -> None:
    rendered = _render(_facts(moq=moq), language="en")
    assert rendered.needs_review and rendered.missing_fields == ["moq"]
    assert f"- Minimum order: {TBC_EN}" in rendered.markdown


def test_review_note_names_the_doubtful_fields_in_both_languages() -> None:
    facts = _facts(delivery_lead_time_days=-100, warranty_months=10**30)
    assert "보증 기간" in _render(facts).markdown.split("검토 필요")[-1]
    english = _render(facts, language="en").markdown.split("Review needed")[-1]
    assert "delivery lead time (out of range)" in english and "warranty (out of range)" in english
