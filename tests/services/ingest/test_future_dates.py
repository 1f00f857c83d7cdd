"""A Date header in the future does not make a message the latest forever: the receipt time bounds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ingest.dates import FUTURE_DATE_TOLERANCE, believable_date
from services.ingest.handlers import decode_incoming
from services.ingest.normalize import normalize_raw
from services.ingest.settings import IngestSettings

RECEIVED = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)


def raw(date: str, received: str | None = None) -> bytes:
    lines = [f"Received: from mx.vendor.example by mx.ourco.example; {received}"] if received else []
    lines += [
        "From: Sales <sales@vendor.example>",
        "To: buyer@client.example",
        "Subject: offer",
        f"Date: {date}",
        "Message-ID: <future@vendor.example>",
        "",
        "Our price is USD 9.00 per piece.",
    ]
    return "\r\n".join(lines).encode()


def test_a_date_far_after_the_kafka_receipt_time_is_replaced_by_it_with_a_warning() -> None:
    stamp_ms = int(RECEIVED.timestamp() * 1000)
    incoming = decode_incoming(raw("Fri, 01 Jan 2099 00:00:00 +0000"), IngestSettings(), tenant=None, arrival=stamp_ms)
    assert incoming.message.date == RECEIVED
    assert any("2099" in w and "ordered by the time received" in w for w in incoming.message.warnings)


def test_the_topmost_received_header_bounds_the_date_offline() -> None:
    incoming = normalize_raw(
        raw("Fri, 01 Jan 2099 00:00:00 +0000", "Sat, 02 May 2026 09:00:00 +0000"), IngestSettings()
    )
    assert incoming.message.date == RECEIVED


def test_clock_skew_within_the_tolerance_keeps_the_date() -> None:
    skewed = RECEIVED + FUTURE_DATE_TOLERANCE - timedelta(minutes=1)
    warnings: list[str] = []
    assert believable_date(skewed, RECEIVED, warnings) == skewed
    assert warnings == []
    assert believable_date(RECEIVED - timedelta(days=30), RECEIVED, warnings) == RECEIVED - timedelta(days=30)
    assert believable_date(skewed, None, warnings) == skewed and warnings == []
