"""How the synthetic mail writes values: money, quantities, lead times, dates, warranties and percentages.

Kept apart from the builder so the way a number is written can be read (and tested) without playing a
negotiation. Functions that vary the wording take the thread's ``random.Random``: the draw order is part of
the generator's output, so callers must keep calling them in the same order.
"""

from __future__ import annotations

import random
from datetime import date

from services.trainer.synth.catalog import CURRENCIES

UNIT_SINGULAR = {
    "pcs": "pc",
    "units": "unit",
    "panels": "panel",
    "sets": "set",
    "yards": "yard",
    "rolls": "roll",
    "drums": "drum",
    "liters": "liter",
    "bottles": "bottle",
    "cartons": "carton",
    "boxes": "box",
    "reels": "reel",
}
KOREAN_UNITS = {"개", "대", "장", "세트", "야드", "롤", "드럼", "리터", "병", "박스", "릴"}
"""Units written straight after the number (10개), unlike English units (10 pcs)."""
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS_KO = "월화수목금토일"
SHIPPING_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "air": {"ko": ("항공 운송", "항공편"), "en": ("by air freight", "by air")},
    "sea": {"ko": ("해상 운송", "선박 운송"), "en": ("by sea freight", "by sea")},
    "express": {"ko": ("특급 배송", "빠른 배송"), "en": ("by express delivery", "via express service")},
    "courier": {"ko": ("택배", "쿠리어(DHL)"), "en": ("by courier (DHL)", "via courier")},
    "standard": {"ko": ("일반 배송", "표준 배송"), "en": ("by standard shipping", "via standard delivery")},
    "rail": {"ko": ("철도 운송",), "en": ("by rail",)},
    "truck": {"ko": ("트럭 운송", "화물차"), "en": ("by truck", "by road (truck)")},
}
"""Shipping methods (the truth's values, in this order) and how mail writes them per language."""

_CURRENCY_SYMBOLS = {
    "USD": ("$", "US$", "USD "),
    "EUR": ("€", "EUR "),
    "JPY": ("¥", "JPY "),
    "GBP": ("£", "GBP "),
    "CNY": ("RMB ", "CNY "),
    "AUD": ("A$", "AUD "),
}
_CURRENCY_KOREAN_WORDS = {"USD": "달러", "EUR": "유로", "JPY": "엔", "CNY": "위안", "GBP": "파운드", "AUD": "호주달러"}


def round_price(value: float, currency: str) -> float:
    """A price as a supplier would quote it: round steps for whole-unit currencies, cents or 5-cent steps else."""
    decimals = CURRENCIES[currency][1]
    if decimals == 0:
        step = 10 if value < 1000 else 100 if value < 100_000 else 1000
        if currency == "JPY":
            step = 1 if value < 1000 else 10
        return float(max(step, round(value / step) * step))
    if value >= 100:
        return float(round(value))
    if value >= 5:
        return round(round(value * 20) / 20, 2)
    return max(0.01, round(value, 2))


def net_price(gross: float, percent: float, currency: str) -> float:
    """The discounted unit price as a supplier writes it: whole won/yen (KRW to 10), otherwise cents."""
    net = gross * (1 - percent / 100)
    if currency == "KRW":
        return float(round(net / 10) * 10)
    if currency == "JPY":
        return float(round(net))
    return round(net, 2)


def number_text(value: float, decimals: int) -> str:
    """Thousands separators; the currency's decimals unless more are needed to keep the exact value."""
    if decimals == 0 or (float(value).is_integer() and value >= 1000):
        return f"{round(value):,}"
    text = f"{value:,.{decimals}f}"
    return text if round(value, decimals) == value else f"{value:,.4f}".rstrip("0")


def percent_text(value: float) -> str:
    """5 rather than 5.0: a percentage as people write it."""
    return f"{value:g}"


def summary_money(value: float, currency: str) -> str:
    """One fixed way of writing money (1,200 USD) for the summary, whatever the mail's own variants."""
    return f"{number_text(value, CURRENCIES[currency][1])} {currency}"


def korean_amount(value: float) -> str:
    """5억, 3,200만, 1억 5,000만: how Korean writes large round amounts (value a multiple of 10,000)."""
    total = round(value)
    eok, rest = divmod(total, 100_000_000)
    man, won = divmod(rest, 10_000)
    parts = []
    if eok:
        parts.append(f"{eok}억")
    if man:
        parts.append(f"{man:,}만")
    if won or not parts:
        parts.append(f"{won:,}")
    return " ".join(parts)


def fmt_money(value: float, currency: str, lang: str, rng: random.Random) -> str:
    """Money in one of the ways mail writes it (₩1,000, 1,000원, US$12.50, 12.50달러), so models see them all."""
    decimals = CURRENCIES[currency][1]
    num = number_text(value, decimals)
    if currency == "KRW":
        options = [f"{num}원", f"₩{num}", f"{num} KRW", f"KRW {num}"] if lang == "ko" else [f"KRW {num}", f"₩{num}"]
        if lang == "ko" and value >= 10_000 and round(value) % 100 == 0 and rng.random() < 0.25:
            return f"{korean_amount(value)}원"
        return rng.choice(options) if lang == "en" or rng.random() < 0.4 else options[0]
    if lang == "ko" and rng.random() < 0.5:
        return f"{num}{_CURRENCY_KOREAN_WORDS[currency]}"
    if rng.random() < 0.2:
        return f"{num} {currency}"
    return f"{rng.choice(_CURRENCY_SYMBOLS[currency])}{num}"


def fmt_budget(value: float, currency: str, lang: str, rng: random.Random) -> str:
    """A budget: Korean buyers write won budgets in 만/억, everything else as money."""
    if currency == "KRW" and lang == "ko":
        return f"{korean_amount(value)} 원" if rng.random() < 0.5 else f"{korean_amount(value)}원"
    return fmt_money(value, currency, lang, rng)


def fmt_qty(quantity: float, unit: str, lang: str) -> str:
    """10개 but 10 pcs: Korean units stick to the number."""
    number = f"{round(quantity):,}"
    return f"{number}{unit}" if unit in KOREAN_UNITS else f"{number} {unit}"


def per_unit_ko(unit: str) -> str:
    """개당: 'per unit' in Korean phrases."""
    return f"{unit}당"


def unit_one(unit: str) -> str:
    """pc for pcs: 'per pc' reads better than 'per pcs'."""
    return UNIT_SINGULAR.get(unit, unit)


def fmt_lead(days: int, written_in_weeks: bool, lang: str, brief: bool) -> str:
    """A lead time in days or weeks (the truth is always days: weeks × 7)."""
    if written_in_weeks:
        weeks = days // 7
        if lang == "ko":
            return f"{weeks}주"
        if brief:
            return f"{weeks} wks"
        return f"{weeks} week" if weeks == 1 else f"{weeks} weeks"
    if lang == "ko":
        return f"{days}일"
    return f"{days} days"


def fmt_date(value: date, lang: str, rng: random.Random, thread_year: int) -> str:
    """A date as written in mail; Korean may drop the year when it is the thread's own."""
    if lang == "ko":
        options = [f"{value.year}년 {value.month}월 {value.day}일", value.isoformat(), f"{value:%Y.%m.%d}"]
        if value.year == thread_year:
            options.append(f"{value.month}월 {value.day}일")
        return rng.choice(options)
    return rng.choice(
        [
            f"{MONTHS_EN[value.month - 1]} {value.day}, {value.year}",
            f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}",
            value.isoformat(),
        ]
    )


def fmt_warranty(months: int, lang: str, rng: random.Random) -> str:
    """A warranty in months or, when whole, often in years (the truth is always months: years × 12)."""
    if months % 12 == 0 and rng.random() < 0.7:
        years = months // 12
        if lang == "ko":
            return f"{years}년"
        return f"{years} year" if years == 1 else f"{years} years"
    return f"{months}개월" if lang == "ko" else f"{months} months"
