"""Extract commands: `quoteflow extract`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from services.cli_support import PathsArg, UserError, read_mail_inputs, run_async


def extract(
    paths: PathsArg,
    engine: Annotated[str, typer.Option("--engine", help="rules or llm")] = "rules",
) -> None:
    """Print facts, summary and tags of each thread as JSON (SPEC.md §2), without a broker."""
    from services.extract.handlers import to_event
    from services.extract.main import build_engine
    from services.extract.settings import ExtractSettings
    from services.ingest.mailfiles import assemble_offline
    from services.ingest.settings import IngestSettings

    if engine not in ("rules", "llm"):
        raise UserError(f"unknown engine {engine!r}: choose rules or llm")
    chosen = build_engine(ExtractSettings().model_copy(update={"engine": engine}))
    ingest_settings = IngestSettings()
    for file in read_mail_inputs(paths):
        thread = run_async(assemble_offline(file, ingest_settings))
        if thread is None:
            continue
        result = run_async(chosen.extract(thread))
        event = to_event(thread, result).model_dump(mode="json")
        event["source"] = str(file.path)
        print(json.dumps(event, ensure_ascii=False, indent=2))


def register_commands(app: typer.Typer) -> None:
    app.command()(extract)
