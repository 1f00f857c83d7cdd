"""Money mentions: 10,000원 · ₩10,000 · 1.2만 원 · 3억 2천만 원 · USD 0.42 · 0.42 USD/pc · €4,850.00 · 4.850,00 EUR."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.extract.rules.numbers import NUMBER, parse_korean_amount, parse_number
from services.extract.rules.vocabulary import (
    CURRENCY_NAMES,
    KOREAN_UNITS,
    MAGNITUDES,
    PREFIX_CURRENCIES,
    SUFFIX_CURRENCIES,
)

_AMOUNT = rf"(?:(?:{NUMBER})\s?(?:[십백천]+[만억조]?|[만억조])\s?)*(?:{NUMBER})(?:\s?(?:[십백천]+[만억조]?|[만억조]))?"
_MAGNITUDE = rf"(?:\s?(?P<mag>{'|'.join(MAGNITUDES)})\b)?"


def _alternation(keys: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first (so 'US$' wins over '$')."""
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


CURRENCY_BEFORE = _alternation(PREFIX_CURRENCIES)
"""Regex source: a currency symbol or code written before an amount (US$, USD, ₩, €, …)."""
CURRENCY_AFTER = _alternation(SUFFIX_CURRENCIES)
"""Regex source: a currency code or word written after an amount (원, USD, 달러, euros, …)."""
CURRENCY_TOKEN = _alternation(dict.fromkeys([*PREFIX_CURRENCIES, *SUFFIX_CURRENCIES]))
"""Regex source: any way of writing a currency beside an amount."""
CURRENCY_CODE = _alternation(dict.fromkeys([*PREFIX_CURRENCIES.values(), *SUFFIX_CURRENCIES.values()]))
"""Regex source: the ISO 4217 codes the engine knows."""
CURRENCY_SYMBOL = "".join(sorted(k for k in PREFIX_CURRENCIES if len(k) == 1))
"""The one-character currency signs, for a character class."""


CURRENCY_MENTION = re.compile(
    rf"(?<![A-Za-z])(?:{_alternation(dict.fromkeys([*PREFIX_CURRENCIES, *SUFFIX_CURRENCIES, *CURRENCY_NAMES]))})(?![A-Za-z])",
    re.IGNORECASE,
)
"""Any written currency (a symbol, code or word, beside an amount or not); the one currency pattern other
modules (the LLM grounding) use to find where a currency is stated."""


def find_currencies(text: str, code: str) -> list[tuple[int, int]]:
    """Where `text` writes the currency with ISO 4217 `code` ('USD' in 'US$ 5', '5 달러', 'usd'), left to right."""
    return [m.span() for m in CURRENCY_MENTION.finditer(text) if currency_code(m.group()) == code.upper()]


def currency_code(token: str) -> str | None:
    """The ISO 4217 code of a written currency ('₩', 'usd', '달러', 'won'), None when it is not one."""
    for table in (PREFIX_CURRENCIES, SUFFIX_CURRENCIES, CURRENCY_NAMES):
        code = table.get(token) or table.get(token.upper()) or table.get(token.lower())
        if code:
            return code
    return None


PREFIX_MONEY = re.compile(
    rf"(?<![A-Za-z])(?P<cur>{CURRENCY_BEFORE})\s?(?P<num>{_AMOUNT}){_MAGNITUDE}(?:\s?(?P<korean_unit>원))?"
)
SUFFIX_MONEY = re.compile(rf"(?<![\w.,])(?P<num>{_AMOUNT}){_MAGNITUDE}\s?(?P<cur>{CURRENCY_AFTER})(?![A-Za-z])")
_COUNTER = "|".join(sorted((*KOREAN_UNITS, "명", "회", "건", "원", "번", "가지"), key=len, reverse=True))
KOREAN_MAGNITUDE_MONEY = re.compile(
    rf"(?<![\w.,])(?P<num>(?>(?:{NUMBER})\s?[십백천]*[만억조](?:\s?(?:{NUMBER})\s?[십백천]*[만억조]?)*))"
    rf"(?!\s?(?:{_COUNTER}|{CURRENCY_AFTER})|[\w.,]*당|\s?[A-Za-z]|[십백천만억조])"
)
"""'예산은 2.5억이고' / '1.2억입니다': a Korean magnitude (만, 억, 조) with no currency is an amount in won; with a
counter after it (10만 개) it is a quantity."""
_PER_UNIT_AFTER = re.compile(
    r"\s?(?:/\s?(?:pc|pcs|piece|unit|ea|set|kg|m|yard|yd|ton|roll|box|carton|개|대|세트|장|kg|톤|야드|미터|롤)\b"
    r"|/\s?(?:개|대|세트|장|톤|야드|미터|롤|식)"
    r"|\s?(?:per|a|/)\s(?:piece|pc|unit|set|item|kg|meter|metre|yard|ton|roll|box|carton|each|license|seat|pair)"
    r"|\s?each\b|\s?ea\b|\s?apiece\b)",
    re.IGNORECASE,
)
_PER_UNIT_BEFORE = re.compile(
    r"(?:개당|대당|세트당|장당|톤당|야드당|미터당|롤당|단가|단가는|unit price|price per unit|per unit|each at|@|each)\s?(?:는|은|:|is|of|at)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Money:
    """One amount of money in a text, with where it stands."""

    value: float
    currency: str
    start: int
    end: int
    per_unit: bool

    def text_in(self, text: str) -> str:
        return text[self.start : self.end]


def _value(number: str, currency: str, magnitude: str | None) -> float | None:
    if re.search(r"[십백천만억조]", number):
        value = parse_korean_amount(number)
    else:
        european = currency == "EUR" and bool(re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", number.strip()))
        value = parse_number(number, decimal_comma=european or None)
        if value is not None and currency in ("KRW", "JPY") and re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", number.strip()):
            value = value * 1000
    if value is None:
        return None
    if magnitude:
        value *= MAGNITUDES[magnitude]
    return value


def find_money(text: str) -> list[Money]:
    """Every amount with an explicit currency, left to right, overlaps resolved to the longer match."""
    found: list[Money] = []
    for pattern, table in (
        (PREFIX_MONEY, PREFIX_CURRENCIES),
        (SUFFIX_MONEY, SUFFIX_CURRENCIES),
        (KOREAN_MAGNITUDE_MONEY, {}),
    ):
        for match in pattern.finditer(text):
            cur_token = match.groupdict().get("cur") or "KRW"
            currency = table.get(cur_token) or table.get(cur_token.lower()) or ("KRW" if not table else "USD")
            value = _value(match.group("num"), currency, match.groupdict().get("mag"))
            if value is None:
                continue
            start, end = match.start(), match.end()
            after = _PER_UNIT_AFTER.match(text, end)
            per_unit = bool(after) or bool(_PER_UNIT_BEFORE.search(text[max(0, start - 20) : start]))
            if after:
                end = after.end()
            found.append(Money(value=value, currency=currency, start=start, end=end, per_unit=per_unit))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    result: list[Money] = []
    for money in found:
        if result and money.start < result[-1].end:
            continue
        result.append(money)
    return result
