"""Money mentions: 10,000원 · ₩10,000 · 1.2만 원 · 3억 2천만 원 · USD 0.42 · 0.42 USD/pc · €4,850.00 · 4.850,00 EUR."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from dataclasses import dataclass

from services.extract.rules.numbers import NUMBER, parse_korean_amount, parse_number

_AMOUNT = rf"(?:(?:{NUMBER})\s?(?:[십백천]+[만억조]?|[만억조])\s?)*(?:{NUMBER})(?:\s?(?:[십백천]+[만억조]?|[만억조]))?"
_MAGNITUDE = r"(?:\s?(?P<mag>million|mio|mn|billion|bn|k|K|M)\b)?"

_PREFIX_CURRENCIES = {
    "US$": "USD",
    "USD": "USD",
    "$": "USD",
    "₩": "KRW",
    "￦": "KRW",
    "KRW": "KRW",
    "€": "EUR",
    "EUR": "EUR",
    "¥": "JPY",
    "JPY": "JPY",
    "CNY": "CNY",
    "RMB": "CNY",
    "£": "GBP",
    "GBP": "GBP",
    "AUD": "AUD",
    "A$": "AUD",
    "CAD": "CAD",
    "C$": "CAD",
    "CHF": "CHF",
    "HKD": "HKD",
    "HK$": "HKD",
    "SGD": "SGD",
    "S$": "SGD",
}
_SUFFIX_CURRENCIES = {
    "원": "KRW",
    "KRW": "KRW",
    "USD": "USD",
    "달러": "USD",
    "불": "USD",
    "EUR": "EUR",
    "유로": "EUR",
    "euros": "EUR",
    "euro": "EUR",
    "위안": "CNY",
    "元": "CNY",
    "CNY": "CNY",
    "RMB": "CNY",
    "엔": "JPY",
    "円": "JPY",
    "JPY": "JPY",
    "GBP": "GBP",
    "파운드": "GBP",
    "AUD": "AUD",
    "CAD": "CAD",
    "CHF": "CHF",
    "dollars": "USD",
}


def _alternation(keys: dict[str, str]) -> str:
    return "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))


PREFIX_MONEY = re.compile(
    rf"(?<![A-Za-z])(?P<cur>{_alternation(_PREFIX_CURRENCIES)})\s?(?P<num>{_AMOUNT}){_MAGNITUDE}(?:\s?(?P<korean_unit>원))?"
)
SUFFIX_MONEY = re.compile(
    rf"(?<![\w.,])(?P<num>{_AMOUNT}){_MAGNITUDE}\s?(?P<cur>{_alternation(_SUFFIX_CURRENCIES)})(?![A-Za-z])"
)
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
_MAGNITUDES = {"million": 1e6, "mio": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "k": 1e3, "K": 1e3, "M": 1e6}


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
        value *= _MAGNITUDES[magnitude]
    return value


def find_money(text: str) -> list[Money]:
    """Every amount with an explicit currency, left to right, overlaps resolved to the longer match."""
    found: list[Money] = []
    for pattern, table in ((PREFIX_MONEY, _PREFIX_CURRENCIES), (SUFFIX_MONEY, _SUFFIX_CURRENCIES)):
        for match in pattern.finditer(text):
            cur_token = match.group("cur")
            currency = table.get(cur_token) or table.get(cur_token.lower()) or "USD"
            value = _value(match.group("num"), currency, match.group("mag"))
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
