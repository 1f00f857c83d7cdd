"""Quote commands: `quoteflow quote`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer


def quote(
    facts_file: Annotated[Path, typer.Argument(help="FactsExtracted JSON, or bare key facts JSON.")],
    fmt: Annotated[str, typer.Option("--format", help="markdown or html")] = "markdown",
    language: Annotated[str, typer.Option(help="ko or en (for bare key facts)")] = "ko",
) -> None:
    """Render one quote document from facts, without a broker."""
    from services.quote.handlers import build_quote_event
    from services.quote.numbering import QuoteSlot
    from services.quote.settings import QuoteSettings
    from shared.events import FactsExtracted, KeyFacts

    data = json.loads(facts_file.read_text(encoding="utf-8"))
    if "facts" in data:
        event = FactsExtracted.model_validate(data)
    else:
        event = FactsExtracted(thread_id=facts_file.stem, language=language, facts=KeyFacts.model_validate(data))
    today = date.today()
    slot = QuoteSlot(quote_number=f"Q-{today.year}-DRAFT", revision=1)
    document = build_quote_event(event, slot, QuoteSettings(), today)
    print(document.html if fmt == "html" else document.markdown)


def register_commands(app: typer.Typer) -> None:
    app.command()(quote)
