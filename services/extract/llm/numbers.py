"""Numbers as people write them in Korean and English trade mail, normalised to plain values.

``9,500원`` → 9500, ``5억 원`` → 500000000, ``1억 2천만`` → 120000000, ``$0.01`` → 0.01,
``2주`` → 2 (weeks), ``5 years`` → 5 (years), ``일주일`` → 1 (weeks). Grounding compares the
model's values against these mentions, so the model and the mail may spell a number differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["", "percent", "days", "weeks", "months", "years"]

_KOREAN_MULTIPLIERS = {
    "조": 1_000_000_000_000,
    "억": 100_000_000,
    "천만": 10_000_000,
    "백만": 1_000_000,
    "십만": 100_000,
    "만": 10_000,
    "천": 1_000,
    "백": 100,
}
_ENGLISH_MULTIPLIERS = {
    "thousand": 1_000,
    "k": 1_000,
    "million": 1_000_000,
    "mn": 1_000_000,
    "m": 1_000_000,
    "billion": 1_000_000_000,
    "bn": 1_000_000_000,
}
_DIGITS = r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_KOREAN = r"(?:\s?(조|억|천만|백만|십만|만|천|백)(?![가-힣]*다\b))?"
_ENGLISH = r"(?:\s?(thousand|million|billion)\b|(k|K|M|mn|bn)\b)?"
_UNIT = (
    r"(?:\s*(%|퍼센트|프로(?!젝트)|일(?!본)|days?\b|주(?![문가식])|주일|weeks?\b|개월|달|months?\b"
    r"|년|years?\b|yrs?\b))?"
)
NUMBER = re.compile(_DIGITS + _KOREAN + _ENGLISH + _UNIT)
_UNIT_NAMES: dict[str, Unit] = {
    "%": "percent",
    "퍼센트": "percent",
    "프로": "percent",
    "일": "days",
    "day": "days",
    "days": "days",
    "주": "weeks",
    "주일": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "개월": "months",
    "달": "months",
    "month": "months",
    "months": "months",
    "년": "years",
    "year": "years",
    "years": "years",
    "yr": "years",
    "yrs": "years",
}
_WORD_DURATIONS: dict[str, tuple[float, Unit]] = {
    "하루": (1, "days"),
    "이틀": (2, "days"),
    "사흘": (3, "days"),
    "나흘": (4, "days"),
    "보름": (15, "days"),
    "일주일": (1, "weeks"),
    "한 주": (1, "weeks"),
    "이주일": (2, "weeks"),
    "한 달": (1, "months"),
    "두 달": (2, "months"),
    "석 달": (3, "months"),
    "세 달": (3, "months"),
    "반년": (6, "months"),
    "일 년": (1, "years"),
}
_ENGLISH_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_WORD_NUMBER = re.compile(
    r"\b(" + "|".join(_ENGLISH_WORDS) + r")[\s-]+(days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)
_WORD_DURATION = re.compile("|".join(re.escape(w) for w in sorted(_WORD_DURATIONS, key=len, reverse=True)))


@dataclass(frozen=True)
class Mention:
    """A number in a text: its value, what it counts (if said) and where it stands."""

    value: float
    unit: Unit
    start: int
    end: int
    korean_scale: int = 0


def _parse_digits(text: str) -> float:
    return float(text.replace(",", ""))


def find_numbers(text: str) -> list[Mention]:
    """Every number mention in ``text``, Korean compounds (1억 2천만) merged into one."""
    singles: list[Mention] = []
    for match in NUMBER.finditer(text):
        digits, korean, english_word, english_suffix, unit_word = match.groups()
        value = _parse_digits(digits)
        scale = 0
        if korean:
            scale = _KOREAN_MULTIPLIERS[korean]
            value *= scale
        english = english_word or english_suffix
        if english:
            value *= _ENGLISH_MULTIPLIERS[english.lower()]
        unit: Unit = _UNIT_NAMES.get(unit_word.lower(), "") if unit_word else ""
        singles.append(Mention(value, unit, match.start(), match.end(), scale))
    mentions = _merge_korean_compounds(singles, text)
    for match in _WORD_NUMBER.finditer(text):
        unit_name = _UNIT_NAMES[match.group(2).lower()]
        mentions.append(Mention(float(_ENGLISH_WORDS[match.group(1).lower()]), unit_name, match.start(), match.end()))
    for match in _WORD_DURATION.finditer(text):
        value, unit_name = _WORD_DURATIONS[match.group(0)]
        mentions.append(Mention(float(value), unit_name, match.start(), match.end()))
    return sorted(mentions, key=lambda m: m.start)


def _merge_korean_compounds(singles: list[Mention], text: str) -> list[Mention]:
    """``1억 2천만`` is two regex matches but one number: add while the scale keeps falling."""
    merged: list[Mention] = []
    for mention in singles:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.korean_scale
            and mention.korean_scale
            and mention.korean_scale < previous.korean_scale
            and not previous.unit
            and text[previous.end : mention.start].strip() == ""
        ):
            merged[-1] = Mention(
                previous.value + mention.value, mention.unit, previous.start, mention.end, mention.korean_scale
            )
        else:
            merged.append(mention)
    return merged


def same_number(a: float, b: float) -> bool:
    """Equal up to rounding of a few decimals (prices like 11.25 or 0.01 survive float arithmetic)."""
    return abs(a - b) <= max(1e-6, 1e-9 * max(abs(a), abs(b)))


def close_number(a: float, b: float) -> bool:
    """Equal up to a currency rounding step, for derived values such as price × (1 − discount)."""
    return abs(a - b) <= max(0.005, 0.0005 * max(abs(a), abs(b)))


def as_days(mention: Mention) -> list[float]:
    """What a duration mention means in days (months are 28–31 days, so several answers)."""
    if mention.unit == "days":
        return [mention.value]
    if mention.unit == "weeks":
        return [mention.value * 7]
    if mention.unit == "months":
        return [mention.value * d for d in (28, 29, 30, 31)]
    if mention.unit == "years":
        return [mention.value * 365]
    return []


def as_months(mention: Mention) -> list[float]:
    """What a duration mention means in months."""
    if mention.unit == "months":
        return [mention.value]
    if mention.unit == "years":
        return [mention.value * 12]
    return []
