"""Lead times (주문 후 약 7일 · 발주 후 4주 · 3 weeks · 45 days after L/C · 20 working days) and delivery dates."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

_LEAD_NUMBER = re.compile(
    r"(?P<n>\d{1,3})(?:\s?(?:-|~|–|to)\s?(?P<n2>\d{1,3}))?\s?"
    r"(?P<u>영업일|근무일|일|주일|주|개월|달|working days?|business days?|calendar days?|days?|weeks?|wks?|months?)(?![A-Za-z])(?!년|요일|정)"
    r"|(?P<word>일주일|한\s?달|두\s?달|보름|다음\s?날|익일|a week|one week|two weeks|a month|one month|next day)"
)
_WORD_DAYS = {
    "일주일": 7,
    "다음날": 1,
    "익일": 1,
    "nextday": 1,
    "한달": 30,
    "두달": 60,
    "보름": 15,
    "aweek": 7,
    "oneweek": 7,
    "twoweeks": 14,
    "amonth": 30,
    "onemonth": 30,
}
LEAD_CONTEXT = re.compile(
    r"lead[- ]?time|deliver|delivery|ship|dispatch|ready|production|manufactur|turnaround|ETA\b|arriv|(?:after|from|of) (?:order|PO|L/C|LC|receipt|deposit|payment|confirmation|contract)"
    r"|(?:주문|발주|계약|입금|선금|PO)\s?(?:후|일로부터|로부터)|within \d|이내"
    r"|납기|배송|납품|출고|생산|제작|소요|걸립|걸리|걸려|도착|입고|선적|발송|공급|준비",
    re.IGNORECASE,
)
_LEAD_EXCLUDE = re.compile(
    r"net\s?$|payment|pay\b|결제|지불|valid|유효|warrant|보증|credit|invoice|usance|L/C at|at sight|기한 내|견적.{0,6}유효|보관|반품|return|trial|sample|샘플",
    re.IGNORECASE,
)

_MONTHS = {
    m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}
_MONTH_NAME = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
DATE_PATTERNS = (
    re.compile(r"(?<!\d)(?P<y>20\d{2})\s?[-./]\s?(?P<m>\d{1,2})\s?[-./]\s?(?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?:(?P<y>20\d{2})\s?년\s?)?(?P<m>\d{1,2})\s?월\s?(?P<d>\d{1,2})\s?일"),
    re.compile(r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?\s" + _MONTH_NAME + r",?(?:\s(?P<y>20\d{2}))?", re.IGNORECASE),
    re.compile(_MONTH_NAME + r"\s(?P<d>\d{1,2})(?:st|nd|rd|th)?(?!\d)(?:,?\s(?P<y>20\d{2}))?", re.IGNORECASE),
)
DELIVERY_DATE_CONTEXT = re.compile(
    r"deliver|delivery|arriv|on site|ship|dispatch|need(?:ed)? (?:it |them |the goods )?(?:by|before|no later)|required by|in time"
    r"|납품|납기|도착|입고|배송|배달|받아야|받을 수|필요|설치|선적|출고",
    re.IGNORECASE,
)
_DATE_EXCLUDE = re.compile(
    r"valid|유효|reply|respond|회신|답변|quot|견적|meeting|미팅|회의|방문|visit|payment|결제|invoice|dated|sent on|발행|작성",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Found:
    """A value found at a span of the searched text."""

    value: int | str
    start: int
    end: int


def find_lead_time(clause: str) -> Found | None:
    """Calendar days from order to delivery stated in one clause (weeks × 7, working days × 7/5, months × 30)."""
    if not LEAD_CONTEXT.search(clause):
        return None
    for match in _LEAD_NUMBER.finditer(clause):
        before = clause[max(0, match.start() - 25) : match.start()]
        after = clause[match.end() : match.end() + 20]
        if _LEAD_EXCLUDE.search(before) or re.match(r"^\s?(?:net|후 결제|이내 결제|credit)", after, re.IGNORECASE):
            continue
        if re.search(
            r"\d\s?월\s?$|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s$", before, re.IGNORECASE
        ):
            continue
        if re.match(
            r"^\s?(?:이내\s?)?(?:현금\s?|계좌\s?)?(?:결제|지급|송금|이체)|^\s?(?:net|payment)", after, re.IGNORECASE
        ):
            continue
        if re.match(r"^\s?(?:전|前|before|ago)", after):
            continue
        if match.group("word"):
            days = _WORD_DAYS[re.sub(r"\s", "", match.group("word").lower())]
        else:
            number = int(match.group("n2") or match.group("n"))
            unit = match.group("u").lower()
            if unit.startswith(("주", "week", "wk")):
                days = number * 7
            elif unit.startswith(("개월", "달", "month")):
                days = number * 30
            elif unit.startswith(("영업일", "근무일", "working", "business")):
                days = round(number * 7 / 5)
            else:
                days = number
        if 0 < days <= 730:
            return Found(days, match.start(), match.end())
    return None


def _year_for(month: int, day: int, reference: datetime | None) -> int | None:
    if reference is None:
        return None
    year = reference.year
    try:
        candidate = date(year, month, day)
    except ValueError:
        return None
    if (reference.date() - candidate).days > 60:
        year += 1
    return year


def find_dates(text: str, reference: datetime | None) -> list[Found]:
    """Every calendar date in ``text`` as YYYY-MM-DD (a missing year is taken from the message date)."""
    found: list[Found] = []
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(f.start <= match.start() < f.end for f in found):
                continue
            groups = match.groupdict()
            month = _MONTHS[groups["mon"][:3].lower()] if groups.get("mon") else int(groups["m"])
            day = int(groups["d"])
            year = int(groups["y"]) if groups.get("y") else _year_for(month, day, reference)
            if year is None:
                continue
            try:
                value = date(year, month, day).isoformat()
            except ValueError:
                continue
            found.append(Found(value, match.start(), match.end()))
    return sorted(found, key=lambda f: f.start)


def find_delivery_date(clause: str, reference: datetime | None) -> Found | None:
    """A fixed delivery or arrival date in one clause that talks about delivery (not a reply or validity date)."""
    if not DELIVERY_DATE_CONTEXT.search(clause) or _DATE_EXCLUDE.search(clause):
        return None
    dates = find_dates(clause, reference)
    return dates[-1] if dates else None
