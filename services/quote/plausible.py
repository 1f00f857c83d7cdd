"""Plausibility of facts on a quote: what lies outside these bounds is shown as 'to be confirmed'.

An extractor (the LLM more than the rules) can return values that parse but cannot be
meant: a lead time of −100 or 10^18 days, a warranty of 10^30 months, a unit price of
1e-300, the date 2026-13-45, a quantity of 10^20, a 150 % discount. The event model
accepts them on purpose (a dead letter would lose the whole thread for one odd value);
the quote is where they are judged. A value out of bounds is not printed: the document
shows 확인 필요 / To be confirmed, the fact's path is listed in ``missing_fields`` and the
quote needs review. Float noise is not a reason for review: it is rounded away
(:mod:`services.quote.money`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Generic, TypeVar

from services.quote.money import MAX_AMOUNT, round_quantity, round_unit_price, to_decimal
from shared.events import FactConfidences, KeyFacts

MAX_LEAD_TIME_DAYS = 730
"""Lead times run 0 (from stock) to two years; more is a misread number (a year, a part number)."""

MAX_WARRANTY_MONTHS = 240
"""Warranties run 0 to 20 years; more is a misread number."""

MAX_QUANTITY = Decimal(10) ** 9
"""Quantities are > 0 and below a billion units (after rounding to QUANTITY_DIGITS)."""

MAX_DISCOUNT_PERCENT = Decimal(100)
"""Discounts are 0 ≤ d < 100 %: 100 % off a positive net price contradicts itself, more is impossible."""

MAX_DELIVERY_DATE_DISTANCE_DAYS = MAX_LEAD_TIME_DAYS
"""A fixed delivery date lies within this many days of the issue date (either side: a thread may be
quoted later than it was written)."""

MAX_LINE_AMOUNT = MAX_AMOUNT
"""Line amounts stay below 10^15 in any currency (and within what Korean amount words can write)."""


T = TypeVar("T")


@dataclass(frozen=True)
class Checked(Generic[T]):
    """A fact after the plausibility check: ``value`` is None when absent or implausible."""

    value: T | None
    doubtful: bool = False
    """The fact was stated but is implausible (shown as to be confirmed, listed for review)."""


def plausible_quantity(raw: float | None) -> Checked[Decimal]:
    """A quantity: 0 < q < MAX_QUANTITY after rounding away float noise."""
    if raw is None:
        return Checked(None)
    number = to_decimal(raw)
    if number is None:
        return Checked(None, doubtful=True)
    quantity = round_quantity(number)
    if not 0 < quantity < MAX_QUANTITY:
        return Checked(None, doubtful=True)
    return Checked(quantity)


def plausible_unit_price(raw: float | None, currency: str | None) -> Checked[Decimal]:
    """A unit price: > 0 after rounding to the currency's precision (1e-300 rounds to 0: not a price)."""
    if raw is None:
        return Checked(None)
    number = to_decimal(raw)
    if number is None:
        return Checked(None, doubtful=True)
    price = round_unit_price(number, currency)
    if price <= 0:
        return Checked(None, doubtful=True)
    return Checked(price)


def plausible_discount(raw: float | None) -> Checked[Decimal]:
    """A discount in %: 0 ≤ d < MAX_DISCOUNT_PERCENT, float noise rounded away."""
    if raw is None:
        return Checked(None)
    number = to_decimal(raw)
    if number is None:
        return Checked(None, doubtful=True)
    discount = round_quantity(number)
    if not 0 <= discount < MAX_DISCOUNT_PERCENT:
        return Checked(None, doubtful=True)
    return Checked(discount)


def plausible_days(raw: int | None, maximum: int) -> Checked[int]:
    """A whole number of days or months: 0 ≤ n ≤ maximum."""
    if raw is None:
        return Checked(None)
    if isinstance(raw, bool) or not 0 <= raw <= maximum:
        return Checked(None, doubtful=True)
    return Checked(int(raw))


def plausible_delivery_date(raw: str | None, today: date) -> Checked[date]:
    """An ISO date (YYYY-MM-DD) that exists and lies within MAX_DELIVERY_DATE_DISTANCE_DAYS of ``today``."""
    if raw is None or not raw.strip():
        return Checked(None)
    try:
        parsed = date.fromisoformat(raw.strip())
    except ValueError:
        return Checked(None, doubtful=True)
    if abs((parsed - today).days) > MAX_DELIVERY_DATE_DISTANCE_DAYS:
        return Checked(None, doubtful=True)
    return Checked(parsed)


@dataclass(frozen=True)
class PlausibleTerms:
    """The document-level facts a quote prints, checked; ``doubtful`` lists the implausible ones' paths."""

    lead_time_days: int | None
    delivery_date: date | None
    warranty_months: int | None
    moq: Decimal | None
    doubtful: tuple[str, ...] = ()


def plausible_terms(facts: KeyFacts, today: date) -> PlausibleTerms:
    """Check delivery, warranty and MOQ (lines are checked in totals.py, where they are priced)."""
    lead = plausible_days(facts.delivery_lead_time_days, MAX_LEAD_TIME_DAYS)
    when = plausible_delivery_date(facts.delivery_date, today)
    warranty = plausible_days(facts.warranty_months, MAX_WARRANTY_MONTHS)
    moq = plausible_quantity(facts.moq)
    checked: dict[str, Checked[int] | Checked[date] | Checked[Decimal]] = {
        "delivery_lead_time_days": lead,
        "delivery_date": when,
        "warranty_months": warranty,
        "moq": moq,
    }
    return PlausibleTerms(
        lead_time_days=lead.value,
        delivery_date=when.value,
        warranty_months=warranty.value,
        moq=moq.value,
        doubtful=tuple(name for name, result in checked.items() if result.doubtful),
    )


MIN_FACT_CONFIDENCE = 0.5
"""A quoted fact the extractor scored below this (services/extract/rules/confidence.py: a term only the buyer
stated and nobody confirmed, a value computed from weak statements, an LLM value grounding could not place)
is printed but to be confirmed: its path is listed in ``missing_fields`` and the quote needs review."""

QUOTED_ITEM_FIELDS = ("product", "quantity", "unit_price", "currency", "discount_percent")
"""Line fields a quote prints and prices from."""
QUOTED_TERMS = (
    "currency",
    "delivery_lead_time_days",
    "delivery_date",
    "incoterm",
    "payment_terms",
    "warranty_months",
    "moq",
)
"""Thread-level facts a quote prints."""


def low_confidence_facts(
    facts: KeyFacts, confidence: FactConfidences | None, minimum: float = MIN_FACT_CONFIDENCE
) -> list[str]:
    """Paths of the quoted facts scored below ``minimum``, in document order (lines, then terms).

    Facts without a score (older events, engines that do not score) are not doubted here: absent
    and implausible facts have their own checks.
    """
    if confidence is None:
        return []
    paths = [f"items.{index}.{name}" for index in range(len(facts.items)) for name in QUOTED_ITEM_FIELDS]
    paths += list(QUOTED_TERMS)
    return [path for path in paths if (score := confidence.score(path)) is not None and score < minimum]
