"""Money for quote documents: Decimal only, rounded per currency, formatted per locale with Babel.

Floats from the facts model become Decimals through their shortest repr (9500.0 → 9500,
20.9 → 20.9), never through binary arithmetic, so 100 × 9,500 is exactly 950,000. The
repr alone keeps float noise an extractor's arithmetic left (0.1 + 0.2 is
0.30000000000000004), so unit prices and quantities are then rounded to a precision
of their own (:func:`round_unit_price`, :func:`round_quantity`) before anything uses them.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from babel import Locale
from babel.numbers import UnknownCurrencyError, format_currency, format_decimal, get_currency_precision

RoundingName = Literal["half_up", "half_even", "down"]
ROUNDING_MODES: dict[str, str] = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}

# Amounts at or beyond this are not prices but extraction accidents (and would overflow display).
MAX_AMOUNT = Decimal(10) ** 15

UNIT_PRICE_EXTRA_DIGITS = 4
"""Digits a unit price may carry beyond its currency's minor unit (USD 0.125 per screw: 6 in all
for USD, 4 for KRW). Anything finer is float noise, not a price anyone quoted."""

QUANTITY_DIGITS = 6
"""Decimal places of a quantity (2.5 kg, 0.125 t); finer digits are float noise."""

LOCALES = {"ko": "ko_KR", "en": "en_US"}
KOREAN_CURRENCY_UNITS = {"KRW": "원", "JPY": "엔", "USD": "미국 달러", "EUR": "유로", "CNY": "위안", "GBP": "파운드"}
KOREAN_MINOR_UNITS = {"USD": "센트", "EUR": "센트", "GBP": "펜스", "AUD": "센트", "CAD": "센트", "CNY": "펀"}


@lru_cache(maxsize=8)
def babel_locale(language: str) -> Locale:
    """Parsed once: Babel would otherwise parse the locale string on every number it formats."""
    return Locale.parse(LOCALES.get(language, "en_US"))


def to_decimal(value: float | int | str | Decimal | None) -> Decimal | None:
    """Exact Decimal of a fact value; None for missing, non-finite or absurdly large values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        return None
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def currency_digits(currency: str | None) -> int:
    """Minor-unit digits of a currency (KRW 0, JPY 0, USD 2); 2 for unknown codes."""
    if not currency:
        return 2
    try:
        return int(get_currency_precision(currency.upper()))
    except (UnknownCurrencyError, KeyError, ValueError):
        return 2


def round_money(value: Decimal, currency: str | None, rounding: RoundingName = "half_up") -> Decimal:
    """Round to the currency's minor unit (1 원, 1 엔, 0.01 USD)."""
    exponent = Decimal(1).scaleb(-currency_digits(currency))
    return value.quantize(exponent, rounding=ROUNDING_MODES[rounding])


def _tidy(value: Decimal) -> Decimal:
    """9500.0000 → 9500, 0.3000 → 0.3: the same value without trailing zeros (and no exponent form)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def round_unit_price(value: Decimal, currency: str | None) -> Decimal:
    """A unit price without float noise: at most UNIT_PRICE_EXTRA_DIGITS beyond the minor unit (half-up)."""
    exponent = Decimal(1).scaleb(-(currency_digits(currency) + UNIT_PRICE_EXTRA_DIGITS))
    return _tidy(value.quantize(exponent, rounding=ROUND_HALF_UP))


def round_quantity(value: Decimal) -> Decimal:
    """A quantity without float noise: QUANTITY_DIGITS decimal places (half-even, as measuring does)."""
    return _tidy(value.quantize(Decimal(1).scaleb(-QUANTITY_DIGITS), rounding=ROUND_HALF_EVEN))


def format_money(
    value: Decimal | None, currency: str | None, language: str, *, krw_suffix: bool | None = None, exact: bool = False
) -> str | None:
    """Locale formatting: 1,234,567원 (Korean document), ₩1,234,567, $1,234.50, ¥1,234.

    ``exact`` keeps sub-minor-unit digits of unit prices (USD 0.125 stays 0.125) so a
    displayed unit price never disagrees with the line amount computed from it.
    """
    if value is None:
        return None
    locale = babel_locale(language)
    code = (currency or "").upper()
    if not exact:
        value = round_money(value, code or None)  # Babel would round half-even; amounts here round half-up
    suffix = krw_suffix if krw_suffix is not None else language == "ko"
    if code == "KRW" and suffix:
        return f"{format_decimal(value, locale=locale, decimal_quantization=not exact)}원"
    if not code:
        return format_decimal(value, format="#,##0.00", locale=locale, decimal_quantization=not exact)
    try:
        return format_currency(value, code, locale=locale, decimal_quantization=not exact)
    except (UnknownCurrencyError, KeyError, ValueError):
        return f"{code} {format_decimal(value, locale=locale, decimal_quantization=not exact)}"


def format_quantity(value: Decimal | None, language: str) -> str | None:
    """1,000 or 2.5, with the locale's separators."""
    if value is None:
        return None
    return format_decimal(value, locale=babel_locale(language), decimal_quantization=False)


def format_percent(value: Decimal) -> str:
    """10 % as '10', 7.5 % as '7.5' (no trailing zeros)."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_DIGITS = ("", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
_SMALL_UNITS = ("", "십", "백", "천")
_BIG_UNITS = ("", "만", "억", "조", "경")


def korean_number(value: int, *, formal: bool = True) -> str:
    """Sino-Korean numerals: 1045000 → 일백사만오천 (formal, as on 견적서 and cheques) or 백사만오천.

    The formal style writes 일 before 십/백/천 so nobody can add a digit in front.
    """
    if value < 0:
        return "마이너스 " + korean_number(-value, formal=formal)
    if value == 0:
        return "영"
    groups: list[str] = []
    big = 0
    while value > 0:
        value, group = divmod(value, 10_000)
        if group:
            if big >= len(_BIG_UNITS):
                raise ValueError("number too large for Korean numerals")
            words = "" if group == 1 and big == 1 and not formal else _group_words(group, formal=formal)
            groups.append(words + _BIG_UNITS[big])  # informal: 만, but always 일억, 일조
        big += 1
    return "".join(reversed(groups))


def _group_words(group: int, *, formal: bool) -> str:
    words = []
    for position in range(3, -1, -1):
        digit = (group // 10**position) % 10
        if digit == 0:
            continue
        if digit == 1 and position > 0 and not formal:
            words.append(_SMALL_UNITS[position])
        else:
            words.append(_DIGITS[digit] + _SMALL_UNITS[position])
    return "".join(words)


def korean_amount_words(value: Decimal, currency: str | None) -> str | None:
    """The amount in words as Korean quotes carry it: 일금 오십만 원정."""
    code = (currency or "").upper()
    if not code:
        return None
    digits = currency_digits(code)
    amount = round_money(value, code)
    whole = int(amount)
    minor = int(((amount - whole) * 10**digits).to_integral_value()) if digits else 0
    unit = KOREAN_CURRENCY_UNITS.get(code, code)
    text = f"일금 {korean_number(whole)} {unit}"
    if minor:
        minor_unit = KOREAN_MINOR_UNITS.get(code)
        text += f" {korean_number(minor)} {minor_unit}" if minor_unit else f" {minor}/{10**digits}"
    return text + "정"
