"""Money: exact Decimals, currency rounding, locale formatting, Korean amount in words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.quote.money import (
    currency_digits,
    format_money,
    format_quantity,
    korean_amount_words,
    korean_number,
    round_money,
    round_quantity,
    round_unit_price,
    to_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (9500.0, Decimal(9500)),
        (20.9, Decimal("20.9")),
        (0.1, Decimal("0.1")),
        (100, Decimal(100)),
        ("7.50", Decimal("7.5")),
    ],
)
def test_to_decimal_is_exact(value: float | int | str, expected: Decimal) -> None:
    assert to_decimal(value) == expected
    assert str(to_decimal(value)) == str(expected)


@pytest.mark.parametrize("value", [None, float("nan"), float("inf"), 1e300, "abc", True])
def test_to_decimal_rejects_what_cannot_be_a_price(value: object) -> None:
    assert to_decimal(value) is None  # type: ignore[arg-type]


def test_currency_digits() -> None:
    assert [currency_digits(code) for code in ("KRW", "JPY", "USD", "krw")] == [0, 0, 2, 0]
    assert currency_digits("XYZ") == 2
    assert currency_digits(None) == 2


def test_round_money_half_up_per_currency() -> None:
    assert round_money(Decimal("1234.5"), "KRW") == Decimal(1235)
    assert round_money(Decimal("0.125"), "USD") == Decimal("0.13")
    assert round_money(Decimal("0.125"), "USD", "half_even") == Decimal("0.12")
    assert round_money(Decimal("95000.9"), "KRW", "down") == Decimal(95000)


@pytest.mark.parametrize(
    ("value", "currency", "language", "expected"),
    [
        (Decimal(1234567), "KRW", "ko", "1,234,567원"),
        (Decimal(1234567), "KRW", "en", "₩1,234,567"),
        (Decimal("1234.5"), "USD", "en", "$1,234.50"),
        (Decimal("1234.5"), "USD", "ko", "US$1,234.50"),
        (Decimal(1234567), "JPY", "en", "¥1,234,567"),
        (Decimal("1234.5"), "EUR", "en", "€1,234.50"),
    ],
)
def test_format_money_per_locale(value: Decimal, currency: str, language: str, expected: str) -> None:
    assert format_money(value, currency, language) == expected


def test_format_money_options() -> None:
    assert format_money(Decimal(1234567), "KRW", "ko", krw_suffix=False) == "₩1,234,567"
    assert format_money(Decimal("0.125"), "USD", "en", exact=True) == "$0.125"
    assert format_money(Decimal("0.125"), "USD", "en") == "$0.13"
    assert format_money(None, "KRW", "ko") is None
    assert format_quantity(Decimal(1000), "ko") == "1,000"
    assert format_quantity(Decimal("2.5"), "en") == "2.5"


@pytest.mark.parametrize(
    ("value", "formal", "informal"),
    [
        (0, "영", "영"),
        (7, "칠", "칠"),
        (10, "일십", "십"),
        (500_000, "오십만", "오십만"),
        (10_000, "일만", "만"),
        (1_045_000, "일백사만오천", "백사만오천"),
        (120_000_000, "일억이천만", "일억이천만"),
        (100_000_001, "일억일", "일억일"),
        (1_0000_0000_0000, "일조", "일조"),
        (11_000, "일만일천", "만천"),
        (9_999, "구천구백구십구", "구천구백구십구"),
    ],
)
def test_korean_numerals(value: int, formal: str, informal: str) -> None:
    assert korean_number(value) == formal
    assert korean_number(value, formal=False) == informal


def test_korean_amount_words() -> None:
    assert korean_amount_words(Decimal(500_000), "KRW") == "일금 오십만 원정"
    assert korean_amount_words(Decimal(1_045_000), "KRW") == "일금 일백사만오천 원정"
    assert korean_amount_words(Decimal(3000), "JPY") == "일금 삼천 엔정"
    assert korean_amount_words(Decimal("8360.50"), "USD") == "일금 팔천삼백육십 미국 달러 오십 센트정"
    assert korean_amount_words(Decimal(1), None) is None


def test_unit_prices_and_quantities_lose_float_noise_only() -> None:
    noise = to_decimal(0.1 + 0.2)
    assert noise == Decimal("0.30000000000000004")  # the shortest repr keeps the noise ...
    assert noise is not None and round_unit_price(noise, "USD") == Decimal("0.3")  # ... the precision rule drops it
    assert round_quantity(noise) == Decimal("0.3")
    assert str(round_unit_price(Decimal("9500.000000000002"), "KRW")) == "9500"
    assert round_unit_price(Decimal("0.125"), "USD") == Decimal("0.125")  # sub-cent prices are real
    assert round_unit_price(Decimal("0.00000049"), "USD") == 0
    assert round_quantity(Decimal("2.5")) == Decimal("2.5")
