"""Dates as mail clients print them in quoted and forwarded header blocks (Korean and English)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime

_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_AMPM = re.compile(r"\b[AaPp]\.?[Mm]\b\.?|오전|오후")
_KOREAN = re.compile(
    r"(?P<y>\d{4})\s*년\s*(?P<m>\d{1,2})\s*월\s*(?P<d>\d{1,2})\s*일\s*(?:\([^)]*\)|[월화수목금토일]요일)?,?\s*"
    r"(?:(?P<ampm>오전|오후)\s*)?"
    r"(?:(?P<H>\d{1,2})\s*[:시]\s*(?P<M>\d{2})?)?"
)
_NUMERIC = re.compile(
    r"(?P<y>\d{4})[-./]\s*(?P<m>\d{1,2})[-./]\s*(?P<d>\d{1,2})\.?(?:[^\d]{0,12}?(?:(?P<ampm1>오전|오후|am|pm)\s*)?"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::\d{2})?\s*(?P<ampm2>am|pm|오전|오후)?)?",
    re.IGNORECASE,
)
_ENGLISH = re.compile(
    r"(?:(?P<d1>\d{1,2})\s+)?(?P<mon>[A-Za-z]{3,9})[\s\-]+(?:(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?[\s\-]+)?(?P<y>\d{2,4})"
    r"(?:,?\s*(?:at\s*)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::\d{2})?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)


def _hour(hour: int, marker: str | None) -> int:
    marker = (marker or "").lower().replace(".", "")
    if marker in ("pm", "오후") and hour < 12:
        return hour + 12
    if marker in ("am", "오전") and hour == 12:
        return 0
    return hour


def parse_loose_date(value: str | None, default_tz: tzinfo | None = None) -> datetime | None:
    """RFC 5322 first, then Korean (2026년 3월 2일 (월) 오전 9:00), ISO-like and English month forms."""
    if not value:
        return None
    text = value.strip()
    tz = default_tz or UTC
    if not _AMPM.search(text):  # parsedate ignores AM/PM: 5:44 PM would become 05:44
        try:
            parsed = parsedate_to_datetime(text)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    try:
        match = _KOREAN.search(text)
        if match:
            hour = _hour(int(match.group("H") or 0), match.group("ampm"))
            return datetime(
                int(match.group("y")),
                int(match.group("m")),
                int(match.group("d")),
                hour,
                int(match.group("M") or 0),
                tzinfo=tz,
            )
        match = _NUMERIC.search(text)
        if match:
            hour = _hour(int(match.group("H") or 0), match.group("ampm1") or match.group("ampm2"))
            return datetime(
                int(match.group("y")),
                int(match.group("m")),
                int(match.group("d")),
                hour,
                int(match.group("M") or 0),
                tzinfo=tz,
            )
        for match in _ENGLISH.finditer(text):
            month = _MONTHS.get(match.group("mon").lower())
            day = match.group("d1") or match.group("d2")
            if not month or not day:
                continue
            year = int(match.group("y"))
            year = year + 2000 if year < 100 else year
            hour = _hour(int(match.group("H") or 0), match.group("ampm"))
            return datetime(year, month, int(day), hour, int(match.group("M") or 0), tzinfo=tz)
    except (ValueError, OverflowError):
        return None
    return None


FUTURE_DATE_TOLERANCE = timedelta(days=1)
"""How far a Date header may lie after the message was received (clock skew, time zones) before it is not believed."""


def believable_date(date: datetime | None, received: datetime | None, warnings: list[str]) -> datetime | None:
    """The Date header, unless it lies after the time the message was received by more than the tolerance.

    Messages are ordered by Date, so a sender writing 2099 would make its offer the latest
    forever and every genuine later offer would sort before it. The receipt time (the Kafka
    record's time stamp, else the topmost Received header) is set by our side, not the
    sender: past the tolerance it replaces the Date, with a warning.
    """
    if date is None or received is None:
        return date
    aware = date if date.tzinfo else date.replace(tzinfo=UTC)
    got = received if received.tzinfo else received.replace(tzinfo=UTC)
    if aware - got <= FUTURE_DATE_TOLERANCE:
        return date
    warnings.append(
        f"Date header {aware.isoformat()} lies {(aware - got).days} day(s) after the message was received "
        f"({got.isoformat()}): ordered by the time received"
    )
    return got
