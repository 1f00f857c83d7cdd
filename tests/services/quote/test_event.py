"""The public QuoteGenerated event: dates, VAT mode and PDF path beside the document."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from services.quote.handlers import build_quote_event, write_pdf
from services.quote.numbering import QuoteSlot
from services.quote.settings import QuoteSettings
from tests.services.quote.conftest import load_event


def test_the_event_carries_dates_and_vat_mode() -> None:
    talk = load_event("talk_ko.facts.json").model_copy(update={"vat_status": "included"})
    quote = build_quote_event(talk, QuoteSlot("Q-2026-000009", 1), QuoteSettings(validity_days=10), date(2026, 12, 28))
    assert (quote.issue_date, quote.valid_until) == (date(2026, 12, 28), date(2027, 1, 7))
    assert (quote.vat_mode, quote.vat, quote.total, quote.pdf_path) == ("included", 0, 950_000, None)


def test_default_and_export_vat_modes_on_the_event() -> None:
    slot, today = QuoteSlot("Q-2026-000011", 1), date(2026, 3, 3)
    talk = build_quote_event(load_event("talk_ko.facts.json"), slot, QuoteSettings(), today)
    assert (talk.vat_mode, talk.vat, talk.total) == ("excluded", 95_000, 1_045_000)
    export = build_quote_event(load_event("valves_en.facts.json"), slot, QuoteSettings(), today)
    assert (export.vat_mode, export.vat) == ("exempt", 0)


async def test_pdf_path_is_filled_only_when_pdfs_are_written(tmp_path: Path) -> None:
    settings = QuoteSettings(pdf_dir=tmp_path / "pdf")
    slot = QuoteSlot("Q-2026-000010", 2)
    quote = build_quote_event(load_event("talk_ko.facts.json"), slot, settings, date(2026, 3, 3))
    written = await write_pdf(settings, quote)
    expected = (tmp_path / "pdf" / "default" / "Q-2026-000010-r2.pdf").absolute()
    assert written.pdf_path == str(expected)
    assert (await asyncio.to_thread(expected.read_bytes)).startswith(b"%PDF-")
    assert (await write_pdf(QuoteSettings(), quote)).pdf_path is None
