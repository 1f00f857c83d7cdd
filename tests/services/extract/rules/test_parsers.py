"""Unit tests of the rules engine's parsers: money, quantities, dates, trade terms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.extract.rules import dates, terms
from services.extract.rules.money import find_money
from services.extract.rules.quantities import find_moq, find_quantities


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("10,000원", 10000, "KRW"),
        ("₩10,000", 10000, "KRW"),
        ("1.2만 원", 12000, "KRW"),
        ("35만 3천 원", 353000, "KRW"),
        ("5억 원", 500_000_000, "KRW"),
        ("3억 2천만 원", 320_000_000, "KRW"),
        ("10,000 KRW", 10000, "KRW"),
        ("USD 0.42", 0.42, "USD"),
        ("$21.80", 21.8, "USD"),
        ("US$ 0.42", 0.42, "USD"),
        ("0.42 USD/pc", 0.42, "USD"),
        ("€4,850.00", 4850, "EUR"),
        ("4.850,00 EUR", 4850, "EUR"),
        ("¥1,250", 1250, "JPY"),
        ("1,250엔", 1250, "JPY"),
        ("GBP 35.50", 35.5, "GBP"),
        ("AUD 90,000", 90000, "AUD"),
        ("100달러", 100, "USD"),
        ("50유로", 50, "EUR"),
        ("12.5위안", 12.5, "CNY"),
        ("USD 2.5 million", 2_500_000, "USD"),
    ],
)
def test_money_forms(text: str, value: float, currency: str) -> None:
    found = find_money(f"가격은 {text} 입니다")
    assert [(m.value, m.currency) for m in found] == [(pytest.approx(value), currency)]


def test_money_ignores_phone_numbers_and_years() -> None:
    assert find_money("Tel 010-1234-5678, ISO 9001:2015, in 2026") == []


def test_money_marks_per_unit_prices() -> None:
    assert find_money("개당 10,000원")[0].per_unit
    assert find_money("USD 21.80 per piece")[0].per_unit
    assert not find_money("총 1,000,000원")[0].per_unit


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("100개를 주문하면", 100, "개"),
        ("40대", 40, "대"),
        ("2세트", 2, "세트"),
        ("1식", 1, "식"),
        ("400장", 400, "장"),
        ("3,000야드", 3000, "야드"),
        ("20,000 pcs", 20000, "pcs"),
        ("120 km", 120, "km"),
        ("2,000 kg", 2000, "kg"),
        ("500 units", 500, "units"),
        ("12 pieces", 12, "pieces"),
    ],
)
def test_order_quantities(text: str, value: float, unit: str) -> None:
    found = [q for q in find_quantities(text) if q.kind == "order"]
    assert [(q.value, q.unit) for q in found] == [(value, unit)]


def test_per_piece_price_is_not_a_quantity() -> None:
    assert find_quantities("개당 10,000원") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("최소 주문 수량은 50개입니다", 50), ("MOQ: 500 pcs", 500), ("minimum order of 1,000 units", 1000)],
)
def test_moq(text: str, value: float) -> None:
    found = find_moq(text)
    assert found is not None and found[0] == value
    assert all(q.kind != "order" for q in find_quantities(text))


def test_tiers_and_stock_are_not_order_quantities() -> None:
    kinds = {q.kind for q in find_quantities("1-499 pcs: USD 0.45, 1,000+ pcs: USD 0.40, 1,000개 이상")}
    assert kinds == {"tier"}
    assert {q.kind for q in find_quantities("we have 5,000 pcs in stock, 100 pcs per carton")} == {"other"}


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("배송 기간은 주문 후 약 7일 정도 소요됩니다", 7),
        ("발주 후 4주", 28),
        ("Lead time is 3 weeks", 21),
        ("shipment 45 days after L/C", 45),
        ("delivery in 20 working days", 28),
        ("설치까지 발주 후 3개월이 소요됩니다", 90),
    ],
)
def test_lead_times(text: str, days: int) -> None:
    found = dates.find_lead_time(text)
    assert found is not None and found.value == days


@pytest.mark.parametrize("text", ["Payment terms: Net 60 days", "This quote is valid for 30 days", "5년 보증"])
def test_not_lead_times(text: str) -> None:
    assert dates.find_lead_time(text) is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026년 3월 15일까지 납품", "2026-03-15"),
        ("3월 15일 도착 예정", "2026-03-15"),
        ("delivery by 15 December 2026", "2026-12-15"),
        ("deliver by Dec 15", "2026-12-15"),
        ("arrival 2026-03-15", "2026-03-15"),
    ],
)
def test_delivery_dates(text: str, iso: str) -> None:
    found = dates.find_delivery_date(text, datetime(2026, 3, 1, tzinfo=UTC))
    assert found is not None and found.value == iso


def test_reply_deadline_is_not_a_delivery_date() -> None:
    assert dates.find_delivery_date("please reply with your quotation by 2026-03-15", None) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Payment: 30% T/T deposit, 70% before shipment.", "30% T/T deposit, 70% before shipment"),
        ("결제 조건은 선금 30%, 잔금 70%입니다", "선금 30%, 잔금 70%"),
        ("결제는 배송 시 결제로 하겠습니다", "배송 시 결제"),
        ("Payment terms are Net 60.", "Net 60"),
        ("We accept L/C at sight.", "L/C at sight"),
    ],
)
def test_payment_terms(text: str, value: str) -> None:
    found = terms.find_payment_terms(text)
    assert found is not None and found.value == value
    assert text[found.start : found.end] == value


def test_asking_for_payment_terms_states_none() -> None:
    assert terms.find_payment_terms("Could you let us know your price, lead time and payment terms?") is None


@pytest.mark.parametrize(
    ("text", "months"),
    [("5년 보증", 60), ("warranty period of 18 months", 18), ("2-year warranty", 24), ("보증 기간은 2년입니다", 24)],
)
def test_warranty(text: str, months: int) -> None:
    found = terms.find_warranty(text)
    assert found is not None and found.value == months


def test_incoterm_with_named_place() -> None:
    found = terms.find_incoterm("Our price is USD 21.80 per piece, FOB Busan.")
    assert found is not None and found.value == "FOB"
    assert "Busan" in "Our price is USD 21.80 per piece, FOB Busan."[found.start : found.end]


def test_shipping_options_are_not_a_choice() -> None:
    assert terms.find_shipping("표준 배송과 빠른 배송 옵션이 있습니다") is None
    found = terms.find_shipping("we will ship by air freight")
    assert found is not None and found.value == "air"


def test_vat_note() -> None:
    assert terms.vat_note("대당 1,200,000원(부가세 별도)") == "excluded"
    assert terms.vat_note("price incl. VAT") == "included"
