"""The plausibility bounds themselves: edges included or excluded exactly as their docstrings say."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from services.quote.plausible import (
    MAX_DELIVERY_DATE_DISTANCE_DAYS,
    MAX_LEAD_TIME_DAYS,
    MAX_QUANTITY,
    Checked,
    plausible_days,
    plausible_delivery_date,
    plausible_discount,
    plausible_quantity,
    plausible_terms,
    plausible_unit_price,
)
from shared.events import KeyFacts

TODAY = date(2026, 3, 3)


def test_absent_facts_are_not_doubtful() -> None:
    assert plausible_quantity(None) == plausible_unit_price(None, "KRW") == Checked(None)
    assert plausible_discount(None) == plausible_days(None, 10) == plausible_delivery_date(None, TODAY) == Checked(None)
    assert plausible_terms(KeyFacts(), TODAY).doubtful == ()


def test_quantity_bounds() -> None:
    assert plausible_quantity(float(MAX_QUANTITY) - 1) == Checked(MAX_QUANTITY - 1)
    assert plausible_quantity(float(MAX_QUANTITY)) == Checked(None, doubtful=True)
    assert plausible_quantity(0.000001) == Checked(Decimal("0.000001"))
    assert plausible_quantity(0.0000004) == Checked(None, doubtful=True)  # rounds to 0


def test_unit_price_precision_follows_the_currency() -> None:
    assert plausible_unit_price(0.00001, "USD") == Checked(Decimal("0.00001"))  # 6 digits for USD
    assert plausible_unit_price(0.00001, "KRW") == Checked(None, doubtful=True)  # 4 digits for KRW
    assert plausible_unit_price(12.5, "KRW") == Checked(Decimal("12.5"))
    assert plausible_unit_price(-1.0, "KRW") == Checked(None, doubtful=True)


def test_discount_bounds() -> None:
    assert plausible_discount(0.0) == Checked(Decimal(0))
    assert plausible_discount(99.5) == Checked(Decimal("99.5"))
    assert plausible_discount(100.0) == Checked(None, doubtful=True)


def test_delivery_date_window_is_inclusive_on_both_sides() -> None:
    edge = timedelta(days=MAX_DELIVERY_DATE_DISTANCE_DAYS)
    assert plausible_delivery_date((TODAY + edge).isoformat(), TODAY).value == TODAY + edge
    assert plausible_delivery_date((TODAY - edge).isoformat(), TODAY).value == TODAY - edge
    assert plausible_delivery_date((TODAY + edge + timedelta(days=1)).isoformat(), TODAY).doubtful
    assert plausible_delivery_date(" 2026-04-01 ", TODAY).value == date(2026, 4, 1)


def test_terms_list_every_doubtful_fact_in_document_order() -> None:
    facts = KeyFacts(
        delivery_lead_time_days=MAX_LEAD_TIME_DAYS + 1, delivery_date="2026-13-45", warranty_months=10**30, moq=-1
    )
    terms = plausible_terms(facts, TODAY)
    assert terms.doubtful == ("delivery_lead_time_days", "delivery_date", "warranty_months", "moq")
    assert (terms.lead_time_days, terms.delivery_date, terms.warranty_months, terms.moq) == (None, None, None, None)
