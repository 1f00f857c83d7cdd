"""Quantities with units (100개 · 40대 · 3,000야드 · 20,000 pcs · 2,000 kg), MOQ and price-tier thresholds."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from services.extract.rules.money import CURRENCY_AFTER, CURRENCY_BEFORE
from services.extract.rules.numbers import NUMBER, parse_number
from services.extract.rules.vocabulary import ENGLISH_UNITS, KOREAN_UNITS

KOREAN_UNIT = "|".join(sorted(KOREAN_UNITS, key=len, reverse=True))
"""Regex source: a Korean counter, longest first."""
ENGLISH_UNIT = "|".join(sorted(ENGLISH_UNITS, key=len, reverse=True))
"""Regex source: an English unit, longest first."""

QUANTITY = re.compile(
    rf"(?<![\w.,/$€£¥₩-])(?P<num>{NUMBER})\s?(?:(?P<ko>{KOREAN_UNIT})(?!당|월|년|일|시|분|초|[가-힣]{{0,0}}당)"
    rf"|(?P<en>{ENGLISH_UNIT})\b(?!\s?(?:per|/)\s?(?:month|year|week|day)))",
)
"""A number directly followed by a unit; 개당 (per piece) and time words are not quantities."""

_AT_LEAST_AFTER = re.compile(r"^\s?(?:\+|이상|or more|and (?:above|over|more|up)|or above|plus)", re.IGNORECASE)
_AT_LEAST_BEFORE = re.compile(r"(?:over|above|more than|at least|from|≥|>=|>|min\.?|minimum of)\s*$", re.IGNORECASE)
_AT_MOST_AFTER = re.compile(r"^\s?(?:이하|미만|or less|or fewer|and (?:below|under|less))", re.IGNORECASE)
_AT_MOST_BEFORE = re.compile(r"(?:up to|under|below|less than|≤|<=|<|max\.?)\s*$", re.IGNORECASE)
_NOT_ORDER = re.compile(
    r"(?:in stock|재고|capacity|생산\s?능력|생산량|per (?:month|year|day|week)|a month|monthly|per carton|per box|per pallet"
    r"|per ctn|/ctn|박스당|카톤당|입수|packed|packing|포장 단위|월\s?생산|연간|annual"
    r"|\bfits?\b|\bholds?\b|per (?:container|FCL|20ft|40ft)|(?:20|40)\s?(?:ft|HC|GP)\b(?:\s?\w+){0,3}|컨테이너당|적재)",
    re.IGNORECASE,
)
MOQ_KEYWORD = re.compile(
    r"(?:MOQ|M\.O\.Q\.?|minimum order(?:ing)?(?: quantity| qty| volume)?|min\.? order(?: qty| quantity)?"
    r"|최소\s?(?:주문|발주|구매)\s?(?:수량|량|단위)?|최소\s?수량)",
    re.IGNORECASE,
)

_VEHICLE_AFTER = re.compile(r"\s?(?:급\s?)?(?:트럭|화물차|차량|지게차|크레인|truck|lorry|trailer|forklift)", re.I)
"""'5톤 트럭으로': the size of a vehicle, not a quantity ordered."""

QuantityKind = Literal["order", "moq", "tier", "other"]


@dataclass(frozen=True)
class Quantity:
    """A quantity in a text; ``kind`` says whether it is an order quantity, MOQ, a tier bound or something else."""

    value: float
    unit: str | None
    start: int
    end: int
    kind: QuantityKind
    low: float | None = None
    high: float | None = None


def _classify(text: str, start: int, end: int, clause_start: int) -> tuple[QuantityKind, float | None, float | None]:
    before = text[clause_start:start]
    window_before = before[-40:]
    after = text[end : end + 25]
    if MOQ_KEYWORD.search(window_before) and not re.search(r"[,;]|but|하지만", window_before[-20:]):
        return "moq", None, None
    if re.match(r"^\s?(?:MOQ|minimum)", after, re.IGNORECASE):
        return "moq", None, None
    if _AT_LEAST_AFTER.match(after) or _AT_LEAST_BEFORE.search(window_before):
        return "tier", None, None
    if _AT_MOST_AFTER.match(after) or _AT_MOST_BEFORE.search(window_before):
        return "tier", None, None
    if (
        _NOT_ORDER.search(window_before[-30:])
        or _NOT_ORDER.match(after.lstrip())
        or re.match(r"^\s?(?:/|per)\s?(?:month|year|day|week|carton|box|카톤|박스|상자|팔레트)", after, re.IGNORECASE)
        or _VEHICLE_AFTER.match(after)
    ):
        return "other", None, None
    return "order", None, None


_TIER_RANGE = re.compile(
    rf"(?<![\w.,])(?P<lo>{NUMBER})\s?(?:{KOREAN_UNIT}|{ENGLISH_UNIT})?\s?(?:-|–|~|to)\s?(?P<hi>{NUMBER})\s?(?P<unit>{KOREAN_UNIT}|{ENGLISH_UNIT})?"
    r"(?!\s?(?:일|주|개월|days?|weeks?|months?|%))",
    re.IGNORECASE,
)
_TIER_PLUS = re.compile(rf"(?<![\w.,])(?P<lo>{NUMBER})\s?\+\s?(?P<unit>{KOREAN_UNIT}|{ENGLISH_UNIT})?")


def _tier_spans(text: str) -> list[Quantity]:
    tiers: list[Quantity] = []
    for match in _TIER_RANGE.finditer(text):
        lo, hi = parse_number(match.group("lo")), parse_number(match.group("hi"))
        unit = match.group("unit")
        if lo is None or hi is None or lo >= hi or (unit is None and not re.match(r"\s?[:=]", text[match.end() :])):
            continue
        tiers.append(Quantity(value=lo, unit=unit, start=match.start(), end=match.end(), kind="tier", low=lo, high=hi))
    for match in _TIER_PLUS.finditer(text):
        lo = parse_number(match.group("lo"))
        if lo is None or any(t.start <= match.start() < t.end for t in tiers):
            continue
        unit = match.group("unit")
        tiers.append(Quantity(value=lo, unit=unit, start=match.start(), end=match.end(), kind="tier", low=lo))
    return tiers


def find_quantities(text: str, clause_start: int = 0) -> list[Quantity]:
    """Quantities with units in ``text``, classified by what surrounds them."""
    result = _tier_spans(text)
    for match in QUANTITY.finditer(text):
        value = parse_number(match.group("num"))
        if value is None:
            continue
        start, end = match.start(), match.end()
        if any(t.start <= start < t.end for t in result):
            continue
        unit = match.group("ko") or match.group("en")
        kind, _, _ = _classify(text, start, end, clause_start)
        low = high = None
        if kind == "tier":
            after = text[end : end + 25]
            if _AT_MOST_AFTER.match(after) or _AT_MOST_BEFORE.search(text[max(0, start - 15) : start]):
                high = value
            else:
                low = value
        result.append(Quantity(value=value, unit=unit, start=start, end=end, kind=kind, low=low, high=high))
    result.sort(key=lambda q: q.start)
    return result


# A number this close to a currency or a Korean magnitude is money, never an order quantity.
_MONEY_AFTER = re.compile(rf"\s?(?:[십백천만억조]|(?:{CURRENCY_AFTER})(?![A-Za-z]))", re.IGNORECASE)
_MONEY_BEFORE = re.compile(rf"(?:{CURRENCY_BEFORE})\s?$", re.IGNORECASE)


def find_moq(text: str) -> tuple[float, int, int] | None:
    """The minimum order quantity stated in ``text`` (value, start, end of the number with its unit)."""
    for keyword in MOQ_KEYWORD.finditer(text):
        window = text[keyword.end() : keyword.end() + 30]
        number = re.search(rf"({NUMBER})\s?(?:{KOREAN_UNIT}|{ENGLISH_UNIT})?", window)
        if number and (_MONEY_AFTER.match(window, number.end(1)) or _MONEY_BEFORE.search(window[: number.start()])):
            continue
        if number and not re.search(r"[.?!\n]", window[: number.start()]):
            value = parse_number(number.group(1))
            if value:
                return value, keyword.end() + number.start(), keyword.end() + number.end()
    for quantity in find_quantities(text):
        if quantity.kind == "moq":
            return quantity.value, quantity.start, quantity.end
    return None
