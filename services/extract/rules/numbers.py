"""Numbers as people write them in Korean and English mail: 10,000 · 4.850,00 · 1.2만 · 3억 2천만 · 2.5k."""

from __future__ import annotations

import re

NUMBER = r"\d{1,3}(?:[,.'’]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?"
"""One written number: grouped thousands (comma, point or the Swiss apostrophe) with optional decimals, or plain
digits."""

_KOREAN_SMALL = {"십": 10, "백": 100, "천": 1_000}
_KOREAN_BIG = {"만": 10_000, "억": 100_000_000, "조": 1_000_000_000_000}

KOREAN_AMOUNT = re.compile(
    rf"(?:(?:{NUMBER})\s?[십백천]*[만억조]?\s?)*(?:{NUMBER})\s?[십백천]*[만억조]?",
)
"""Digits mixed with Korean magnitude words: 35만 3천, 3억 2천만, 1.2만."""

_KOREAN_TOKEN = re.compile(rf"({NUMBER})\s?([십백천]*)([만억조]?)")


def parse_number(text: str, *, decimal_comma: bool | None = None) -> float | None:
    """A written number as float; None when it is not one.

    ``decimal_comma`` forces the European reading (4.850,00); by default the last
    separator is decimal only when it is followed by one or two digits.
    """
    raw = text.strip().replace(" ", "").replace("\u00a0", "").replace("'", "").replace("’", "")
    if not raw or not re.fullmatch(r"[\d.,]+", raw) or not raw[0].isdigit():
        return None
    if "," in raw and "." in raw:
        decimal = "," if raw.rfind(",") > raw.rfind(".") else "."
    elif "," in raw:
        tail = raw.rsplit(",", 1)[1]
        decimal = "," if (decimal_comma or len(tail) in (1, 2)) and raw.count(",") == 1 else ""
    elif "." in raw:
        tail = raw.rsplit(".", 1)[1]
        grouped = raw.count(".") > 1 or (bool(decimal_comma) and len(tail) == 3 and not raw.startswith("0."))
        decimal = "" if grouped else "."
    else:
        decimal = ""
    thousands = {",": ".", ".": ",", "": ",."}[decimal]
    for sep in thousands:
        raw = raw.replace(sep, "")
    if decimal == ",":
        raw = raw.replace(",", ".")
    try:
        return float(raw)
    except ValueError:
        return None


def parse_korean_amount(text: str) -> float | None:
    """Digits with 십/백/천/만/억/조: '3억 2천만' → 320000000, '5천 5백만' → 55000000."""
    total = 0.0
    pending = 0.0
    found = False
    for match in _KOREAN_TOKEN.finditer(text):
        value = parse_number(match.group(1))
        if value is None:
            return None
        found = True
        for char in match.group(2):
            value *= _KOREAN_SMALL[char]
        big = match.group(3)
        if big:
            total += (pending + value) * _KOREAN_BIG[big]
            pending = 0.0
        else:
            pending += value
    return total + pending if found else None


def clean_number(value: float) -> float | int:
    """Integers stay integers in JSON (9500, not 9500.0), others keep two decimals at most."""
    rounded = round(value, 4)
    return int(rounded) if rounded == int(rounded) else rounded
