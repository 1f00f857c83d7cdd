"""Quote arithmetic: line amounts, subtotal, discount, VAT and grand total, all in Decimal.

Rules (the ones a reviewer checks by hand):

- a line amount is quantity × net unit price, rounded to the currency's minor unit;
- the subtotal (공급가액) is the sum of the rounded line amounts;
- VAT 별도 (``excluded``): VAT = round(subtotal × rate), total = subtotal + VAT;
- VAT 포함 (``included``): prices already contain VAT, total = subtotal and the VAT inside
  it is shown for information (the event's ``vat`` is 0, as its contract says);
- ``exempt`` / ``not_applicable``: no VAT;
- the discount is informational: unit prices in the facts are already net, so the
  "before discount" amount is derived from ``discount_percent`` and never subtracted twice.

A line that lacks a quantity or price (or has a value that cannot be one: see
:mod:`services.quote.plausible` for the bounds) leaves the subtotal and everything after
it unknown; nothing is guessed. Quantities and unit prices are rounded to their own
precision first (float noise), so the amount is computed from the figures shown. An
implausible discount is listed for review but leaves the line priced (prices are net).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Literal

from services.quote.money import RoundingName, round_money
from services.quote.plausible import (
    MAX_LINE_AMOUNT,
    plausible_discount,
    plausible_quantity,
    plausible_unit_price,
)
from shared.events import KeyFacts, LineItem, QuoteLine

VatMode = Literal["excluded", "included", "exempt", "not_applicable"]
VAT_MODES: tuple[str, ...] = ("excluded", "included", "exempt", "not_applicable")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PricedLine:
    """One line with exact figures; ``list_amount`` is the derived amount before discount."""

    product: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    amount: Decimal | None
    discount_percent: Decimal | None = None
    list_amount: Decimal | None = None
    currency: str | None = None

    def as_event_line(self) -> QuoteLine:
        return QuoteLine(
            product=self.product or "",
            quantity=self.quantity,
            unit=self.unit,
            unit_price=self.unit_price,
            amount=self.amount,
        )


@dataclass
class QuoteTotals:
    """All figures of one quote; None means 'to be confirmed'."""

    currency: str | None
    lines: list[PricedLine]
    vat_mode: VatMode
    vat_rate: Decimal
    subtotal: Decimal | None = None
    discount: Decimal | None = None
    gross: Decimal | None = None
    vat: Decimal | None = None
    vat_contained: Decimal | None = None
    total: Decimal | None = None
    missing_fields: list[str] = field(default_factory=list)


def document_currency(facts: KeyFacts) -> str | None:
    """The thread's currency, or the single currency all priced items state."""
    if facts.currency:
        return facts.currency.upper()
    item_currencies = {item.currency.upper() for item in facts.items if item.currency}
    return item_currencies.pop() if len(item_currencies) == 1 else None


def compute_totals(
    facts: KeyFacts,
    *,
    vat_mode: VatMode,
    vat_rate: Decimal,
    line_rounding: RoundingName = "half_up",
    vat_rounding: RoundingName = "half_up",
) -> QuoteTotals:
    """Price every line and derive subtotal, discount, VAT and total (see module docstring)."""
    currency = document_currency(facts)
    totals = QuoteTotals(currency=currency, lines=[], vat_mode=vat_mode, vat_rate=vat_rate)
    missing = totals.missing_fields
    if currency is None:
        missing.append("currency")
    if not facts.items:
        missing.append("items")
    with localcontext() as context:
        context.prec = 60
        complete = bool(facts.items)
        for index, item in enumerate(facts.items):
            line = _price_line(index, item, currency, line_rounding, missing)
            totals.lines.append(line)
            complete = complete and line.amount is not None
        if not complete or currency is None:
            return totals
        amounts = [line.amount for line in totals.lines if line.amount is not None]
        subtotal = sum(amounts, Decimal(0))
        totals.subtotal = subtotal
        if any(line.list_amount is not None for line in totals.lines):
            gross = sum(((line.list_amount or line.amount or Decimal(0)) for line in totals.lines), Decimal(0))
            totals.gross, totals.discount = gross, gross - subtotal
        if vat_mode == "excluded":
            totals.vat = round_money(subtotal * vat_rate, currency, vat_rounding)
            totals.total = subtotal + totals.vat
        elif vat_mode == "included":
            totals.vat = Decimal(0)
            totals.vat_contained = round_money(subtotal * vat_rate / (1 + vat_rate), currency, vat_rounding)
            totals.total = subtotal
        else:
            totals.vat = Decimal(0)
            totals.total = subtotal
    return totals


def _price_line(
    index: int, item: LineItem, currency: str | None, rounding: RoundingName, missing: list[str]
) -> PricedLine:
    product_text = item.product.strip() if item.product and item.product.strip() else None
    item_code = item.currency.upper() if item.currency else None
    quantity = plausible_quantity(item.quantity).value
    unit_price = plausible_unit_price(item.unit_price, item_code or currency).value
    discount_checked = plausible_discount(item.discount_percent)
    discount = discount_checked.value
    if product_text is None:
        missing.append(f"items.{index}.product")
    if quantity is None:
        missing.append(f"items.{index}.quantity")
    if unit_price is None:
        missing.append(f"items.{index}.unit_price")
    if discount_checked.doubtful:
        missing.append(f"items.{index}.discount_percent")
    if item_code is not None and currency is not None and item_code != currency:
        # Converting would need an exchange rate the thread does not give.
        missing.append(f"items.{index}.currency")
        unit_price = None
    amount = list_amount = None
    if quantity is not None and unit_price is not None and currency is not None:
        amount = round_money(quantity * unit_price, currency, rounding)
        if abs(amount) >= MAX_LINE_AMOUNT:  # each figure alone passed: their product is no offer
            missing += [f"items.{index}.quantity", f"items.{index}.unit_price"]
            quantity = unit_price = amount = None
        elif discount is not None and 0 < discount < HUNDRED:
            list_amount = round_money(quantity * unit_price * HUNDRED / (HUNDRED - discount), currency, rounding)
    return PricedLine(
        product=product_text,
        quantity=quantity,
        unit=item.unit.strip() if item.unit and item.unit.strip() else None,
        unit_price=unit_price,
        amount=amount,
        discount_percent=discount if discount is not None and 0 < discount < HUNDRED else None,
        list_amount=list_amount,
        currency=currency,
    )
