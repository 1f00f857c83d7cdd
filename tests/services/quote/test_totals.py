"""Quote arithmetic: the talk's example, VAT modes, missing values and properties for any input."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.quote.money import round_money, to_decimal
from services.quote.totals import compute_totals, document_currency
from shared.events import KeyFacts, LineItem

TALK_FACTS = KeyFacts(
    currency="KRW",
    items=[LineItem(product="X 제품", quantity=100, unit="개", unit_price=9500, currency="KRW", discount_percent=5)],
)
RATE = Decimal("0.10")


def test_talk_example_totals() -> None:
    totals = compute_totals(TALK_FACTS, vat_mode="excluded", vat_rate=RATE)
    line = totals.lines[0]
    assert (line.quantity, line.unit_price, line.amount) == (Decimal(100), Decimal(9500), Decimal(950_000))
    assert totals.subtotal == Decimal(950_000)
    assert totals.vat == Decimal(95_000)
    assert totals.total == Decimal(1_045_000)
    # The 5 % discount is already in the net price: shown, never subtracted twice.
    assert (totals.gross, totals.discount) == (Decimal(1_000_000), Decimal(50_000))
    assert totals.missing_fields == []


def test_vat_included_keeps_the_total_and_shows_the_vat_inside() -> None:
    totals = compute_totals(TALK_FACTS, vat_mode="included", vat_rate=RATE)
    assert totals.total == Decimal(950_000)
    assert totals.vat == 0
    assert totals.vat_contained == Decimal(86_364)  # 950,000 × 10/110, rounded half-up


def test_exempt_and_not_applicable_carry_no_vat() -> None:
    for mode in ("exempt", "not_applicable"):
        totals = compute_totals(TALK_FACTS, vat_mode=mode, vat_rate=RATE)  # type: ignore[arg-type]
        assert (totals.vat, totals.total) == (Decimal(0), Decimal(950_000))


def test_vat_rate_is_configurable_and_rounding_too() -> None:
    facts = KeyFacts(currency="KRW", items=[LineItem(product="a", quantity=3, unit_price=333)])
    assert compute_totals(facts, vat_mode="excluded", vat_rate=Decimal("0.10")).vat == Decimal(100)  # 99.9
    down = compute_totals(facts, vat_mode="excluded", vat_rate=Decimal("0.10"), vat_rounding="down")
    assert down.vat == Decimal(99)
    assert compute_totals(facts, vat_mode="excluded", vat_rate=Decimal("0.08")).vat == Decimal(80)  # 79.92


def test_usd_lines_round_to_cents() -> None:
    facts = KeyFacts(currency="USD", items=[LineItem(product="screw", quantity=3, unit_price=0.125)])
    totals = compute_totals(facts, vat_mode="excluded", vat_rate=RATE)
    assert totals.lines[0].amount == Decimal("0.38")
    assert totals.vat == Decimal("0.04")
    assert totals.total == Decimal("0.42")


def test_missing_quantity_or_price_leaves_totals_unknown() -> None:
    facts = KeyFacts(
        currency="KRW",
        items=[LineItem(product="a", quantity=2, unit_price=100), LineItem(product=None, quantity=None, unit_price=5)],
    )
    totals = compute_totals(facts, vat_mode="excluded", vat_rate=RATE)
    assert totals.lines[0].amount == Decimal(200)
    assert totals.lines[1].amount is None
    assert (totals.subtotal, totals.vat, totals.total) == (None, None, None)
    assert totals.missing_fields == ["items.1.product", "items.1.quantity"]


def test_no_items_and_no_currency_are_missing() -> None:
    totals = compute_totals(KeyFacts(), vat_mode="excluded", vat_rate=RATE)
    assert totals.missing_fields == ["currency", "items"]
    assert totals.total is None


def test_negative_values_are_not_prices() -> None:
    facts = KeyFacts(currency="KRW", items=[LineItem(product="a", quantity=-2, unit_price=-100)])
    totals = compute_totals(facts, vat_mode="excluded", vat_rate=RATE)
    assert totals.missing_fields == ["items.0.quantity", "items.0.unit_price"]


def test_a_line_in_another_currency_is_not_converted() -> None:
    facts = KeyFacts(
        currency="KRW",
        items=[LineItem(product="a", quantity=1, unit_price=100, currency="USD")],
    )
    totals = compute_totals(facts, vat_mode="excluded", vat_rate=RATE)
    assert totals.missing_fields == ["items.0.currency"]
    assert totals.total is None


def test_document_currency_falls_back_to_the_items_single_currency() -> None:
    assert document_currency(KeyFacts(items=[LineItem(currency="usd"), LineItem(currency="USD")])) == "USD"
    assert document_currency(KeyFacts(items=[LineItem(currency="USD"), LineItem(currency="EUR")])) is None


quantities = st.one_of(
    st.integers(min_value=1, max_value=10**7).map(float),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3).map(float),
)
# Plausible prices only (services/quote/plausible.py): > 0, and lines below 10^15 (10^7 × 10^7 at most).
prices = st.one_of(
    st.integers(min_value=1, max_value=10**7).map(float),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4).map(float),
)
lines = st.lists(
    st.tuples(quantities, prices, st.one_of(st.none(), st.floats(min_value=0.5, max_value=60))), min_size=1, max_size=8
)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines,
    currency=st.sampled_from(["KRW", "USD", "JPY", "EUR"]),
    rate=st.decimals(min_value=Decimal(0), max_value=Decimal("0.30"), places=3),
)
def test_total_is_sum_of_rounded_lines_plus_vat(
    lines: list[tuple[float, float, float | None]], currency: str, rate: Decimal
) -> None:
    facts = KeyFacts(
        currency=currency,
        items=[
            LineItem(product=f"p{i}", quantity=q, unit_price=p, discount_percent=d) for i, (q, p, d) in enumerate(lines)
        ],
    )
    totals = compute_totals(facts, vat_mode="excluded", vat_rate=rate)
    expected_lines = [round_money(to_decimal(q) * to_decimal(p), currency) for q, p, _ in lines]  # type: ignore[operator]
    assert [line.amount for line in totals.lines] == expected_lines
    assert totals.subtotal == sum(expected_lines, Decimal(0))
    assert totals.vat == round_money(totals.subtotal * rate, currency)
    assert totals.total == totals.subtotal + totals.vat
    assert totals.total == round_money(totals.total, currency)  # never a fraction of the minor unit
    if totals.discount is not None:
        assert totals.discount >= 0
        assert totals.gross == totals.subtotal + totals.discount


@settings(max_examples=200, deadline=None)
@given(lines=lines, rate=st.decimals(min_value=Decimal(0), max_value=Decimal("0.30"), places=3))
def test_vat_included_total_is_the_sum_of_lines(lines: list[tuple[float, float, float | None]], rate: Decimal) -> None:
    facts = KeyFacts(currency="KRW", items=[LineItem(product="p", quantity=q, unit_price=p) for q, p, _ in lines])
    totals = compute_totals(facts, vat_mode="included", vat_rate=rate)
    assert totals.total == sum((line.amount for line in totals.lines if line.amount is not None), Decimal(0))
    assert totals.vat == 0
    assert totals.vat_contained is not None and 0 <= totals.vat_contained <= totals.total
