"""Extract commands: `quoteflow extract`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from services.cli_support import PathsArg, UserError, err_console, read_mail_inputs, run_async, safe_text


def extract(
    paths: PathsArg,
    engine: Annotated[str, typer.Option("--engine", help="rules or llm")] = "rules",
) -> None:
    """Print facts, summary and tags of each thread as JSON (SPEC.md §2), without a broker."""
    from services.extract.handlers import to_event
    from services.extract.main import build_engine
    from services.extract.settings import ExtractSettings
    from services.ingest.mailfiles import Rejected, assemble_offline_detailed
    from services.ingest.settings import IngestSettings

    if engine not in ("rules", "llm"):
        raise UserError(f"unknown engine {engine!r}: choose rules or llm")
    chosen = build_engine(ExtractSettings().model_copy(update={"engine": engine}))
    ingest_settings = IngestSettings()
    files = read_mail_inputs(paths)
    if not files:
        raise UserError("no .eml, .mbox or maildir found")
    rejected: list[Rejected] = []
    threads = 0
    for file in files:
        thread = run_async(assemble_offline_detailed(file, ingest_settings, on_reject=rejected.append)).thread
        if thread is None:
            continue
        threads += 1
        result = run_async(chosen.extract(thread))
        event = to_event(thread, result).model_dump(mode="json")
        event["source"] = str(file.path)
        print(json.dumps(event, ensure_ascii=False, indent=2))
    reports = [f"{r.path} message {r.index + 1}: {r.reason}" for r in rejected]
    if threads == 0:
        more = f" (and {len(reports) - 3} more)" if len(reports) > 3 else ""
        raise UserError("no e-mail to extract from: " + ("; ".join(reports[:3]) + more if reports else "no messages"))
    for report in reports:  # the service would dead-letter these; the threads above are complete without them
        err_console.print(Text(f"skipped {safe_text(report)}"))


def register_commands(app: typer.Typer) -> None:
    app.command()(extract)
