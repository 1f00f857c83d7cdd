"""Quote rendering speed: documents per second (Markdown + HTML), totals, PDF.

Called by ``make bench`` (``run()``); ``python bench/bench_quote.py`` prints the figures.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import date
from pathlib import Path

from services.quote.numbering import QuoteSlot
from services.quote.render import QuoteRenderer, render_pdf
from services.quote.settings import QuoteSettings
from services.quote.totals import compute_totals
from shared.events import FactsExtracted, KeyFacts, LineItem

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "quote"
ISSUE_DATE = date(2026, 3, 3)


def _event(name: str) -> FactsExtracted:
    return FactsExtracted.model_validate(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


def _many_lines(count: int) -> FactsExtracted:
    items = [
        LineItem(product=f"부품 {i}", quantity=i + 1, unit="개", unit_price=1234.5 + i, currency="KRW")
        for i in range(count)
    ]
    facts = KeyFacts(currency="KRW", items=items, delivery_lead_time_days=14)
    return FactsExtracted(thread_id="t-bench-50", language="ko", facts=facts)


def _rate(seconds: list[float]) -> float:
    """Renders per second from the median render: robust against other work on a shared machine."""
    return 1 / statistics.median(seconds)


def _time_renders(renderer: QuoteRenderer, event: FactsExtracted, count: int) -> list[float]:
    timings = []
    for revision in range(1, count + 1):
        start = time.perf_counter()
        renderer.render(event, QuoteSlot("Q-2026-000123", revision), ISSUE_DATE)
        timings.append(time.perf_counter() - start)
    return timings


def run(quick: bool = False) -> dict[str, float | str]:
    """Measure renders/s per language, a 50-line quote, pure totals and PDF printing."""
    count = 50 if quick else 500
    talk, valves, big = _event("talk_ko.facts.json"), _event("valves_en.facts.json"), _many_lines(50)

    cold = QuoteRenderer(QuoteSettings())
    start = time.perf_counter()
    cold.render(talk, QuoteSlot("Q-2026-000123", 1), ISSUE_DATE)
    first_render_ms = (time.perf_counter() - start) * 1000

    renderer = QuoteRenderer(QuoteSettings())
    _time_renders(renderer, talk, 5)  # warm the template cache
    ko = _time_renders(renderer, talk, count)
    en = _time_renders(renderer, valves, count)
    fifty = _time_renders(renderer, big, max(10, count // 10))

    vat_rate = QuoteSettings().vat_rate
    start = time.perf_counter()
    for _ in range(count * 4):
        compute_totals(big.facts, vat_mode="excluded", vat_rate=vat_rate)
    totals_per_s = count * 4 / (time.perf_counter() - start)

    html = renderer.render(talk, QuoteSlot("Q-2026-000123", 1), ISSUE_DATE).html
    pdf_runs = 1 if quick else 5
    pdf_timings = []
    for _ in range(pdf_runs):
        start = time.perf_counter()
        render_pdf(html)
        pdf_timings.append(time.perf_counter() - start)

    return {
        "quote_renders_per_s_ko": round(_rate(ko), 1),
        "quote_renders_per_s_en": round(_rate(en), 1),
        "quote_render_ms_p50_ko": round(statistics.median(ko) * 1000, 3),
        "quote_render_ms_p95_ko": round(statistics.quantiles(ko, n=20)[-1] * 1000, 3),
        "quote_renders_per_s_ko_throughput": round(len(ko) / sum(ko), 1),
        "quote_renders_per_s_50_lines": round(_rate(fifty), 1),
        "quote_first_render_ms": round(first_render_ms, 1),
        "quote_totals_per_s_50_lines": round(totals_per_s, 1),
        "quote_pdf_s_per_document": round(statistics.median(pdf_timings), 3),
        "quote_render_note": "one render = Markdown + HTML of one document, totals and formatting included",
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
