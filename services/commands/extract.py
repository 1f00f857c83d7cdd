"""`quoteflow extract`: mail files → threads (ingest's offline reading) → facts (an extract engine), no broker."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from services.cli_support import PathsArg, UserError, err_console, read_mail_inputs, run_async, safe_text

if TYPE_CHECKING:
    from services.extract.engine import ExtractionEngine
    from services.ingest.mailfiles import MailFile
    from services.ingest.settings import IngestSettings


def extract(
    paths: PathsArg,
    engine: Annotated[
        str | None, typer.Option("--engine", help="rules, llm or hybrid (default: QUOTEFLOW_ENGINE, else rules)")
    ] = None,
    adapter: Annotated[
        str | None,
        typer.Option(
            "--adapter",
            metavar="ID|none",
            help="llm engine: `none` asks the base model even if an adapter is promoted, an id asks that "
            "adapter from the registry (default: QUOTEFLOW_LLM_ADAPTER, else the promoted one)",
        ),
    ] = None,
) -> None:
    """Print facts, summary and tags of each thread as JSON (SPEC.md §2), without a broker.

    The llm and hybrid engines without QUOTEFLOW_LLM_URL start the embedded CPU model for this command and stop
    it after.
    """
    from services.extract.main import build_engine
    from services.extract.settings import ExtractSettings
    from services.ingest.settings import IngestSettings

    if engine not in (None, "rules", "llm", "hybrid"):
        raise UserError(f"unknown engine {engine!r}: choose rules, llm or hybrid")
    settings = ExtractSettings()
    chosen_engine = engine or settings.engine
    if adapter is not None and chosen_engine == "rules":
        raise UserError("--adapter chooses the llm engine's adapter: add --engine llm (or hybrid)")
    ingest_settings = IngestSettings()
    files = read_mail_inputs(paths)
    if not files:
        raise UserError("no .eml, .mbox or maildir found")
    update: dict[str, object] = {"engine": chosen_engine}
    if adapter is not None:
        update["llm_adapter"] = adapter
    chosen = build_engine(settings.model_copy(update=update))
    try:
        _extract_files(chosen, files, ingest_settings)
    finally:
        close = getattr(chosen, "close", None)
        if close is not None:
            run_async(close())


def _extract_files(chosen: ExtractionEngine, files: list[MailFile], ingest_settings: IngestSettings) -> None:
    from services.extract.handlers import to_event
    from services.ingest.mailfiles import Rejected, assemble_offline_detailed

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
