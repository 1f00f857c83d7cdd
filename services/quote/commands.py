"""Quote commands: `quoteflow quote FACTS.json` renders a quote without a broker."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.cli_support import UserError, read_json_text, tenant_option

if TYPE_CHECKING:
    from shared.events import FactsExtracted

FORMAT_SUFFIXES = {"markdown": "md", "html": "html", "pdf": "pdf", "json": "json"}


def read_documents(text: str, source: str) -> list[dict[str, Any]]:
    """One or more JSON objects, back to back (as `quoteflow extract` prints them)."""
    decoder = json.JSONDecoder()
    documents: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise UserError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
        except RecursionError as exc:
            raise UserError(f"{source}: not valid JSON (nested too deeply)") from exc
        if not isinstance(document, dict):
            raise UserError(f"{source}: expected a JSON object, got {type(document).__name__}")
        documents.append(document)
    if not documents:
        raise UserError(f"{source}: no JSON document")
    return documents


def output_paths(out: Path | None, thread_ids: list[str], suffix: str) -> list[Path | None]:
    """Where each document goes: ``out`` itself for one document (unless it is a folder), else
    ``out/<thread id>.<suffix>``.

    Thread ids come from the input, so they are made plain file names (``../x`` and ``/etc/x``
    cannot leave ``out``) and unique (two inputs never write one file), and every path is
    checked to stay inside ``out``.
    """
    from shared.tenants import UnsafeNameError, contained, safe_file_name, unique_names

    if out is None:
        return [None] * len(thread_ids)
    if len(thread_ids) == 1 and not out.is_dir():
        return [out]
    names = unique_names([safe_file_name(thread_id, "thread") for thread_id in thread_ids])
    targets: list[Path | None] = []
    for name in names:
        target = out / f"{name}.{suffix}"
        try:
            contained(out, target)
        except UnsafeNameError as exc:  # a symlink in out pointing elsewhere
            raise UserError(str(exc)) from exc
        targets.append(target)
    return targets


def to_event(document: dict[str, Any], source: str, language: str | None, tenant: str | None) -> FactsExtracted:
    """A FactsExtracted from an event, `quoteflow extract` output (extra keys dropped) or bare key facts."""
    from pydantic import ValidationError

    from shared.events import FactsExtracted, KeyFacts

    try:
        if "facts" in document:
            known = {k: v for k, v in document.items() if k in FactsExtracted.model_fields}
            event = FactsExtracted.model_validate(known)
        else:
            facts = KeyFacts.model_validate(document)
            event = FactsExtracted(thread_id=Path(source).stem or "stdin", language=_guess_language(facts), facts=facts)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise UserError(f"{source}: not key facts: {problems}") from exc
    update: dict[str, Any] = {}
    if language:
        update["language"] = language
    if tenant:
        update["tenant"] = tenant
    return event.model_copy(update=update) if update else event


def _guess_language(facts: Any) -> str:
    """Bare key facts carry no language: Hangul anywhere in them means a 견적서."""
    text = json.dumps(facts.model_dump(mode="json"), ensure_ascii=False)
    return "ko" if any("\uac00" <= ch <= "\ud7a3" for ch in text) else "en"


def quote(
    facts_file: Annotated[
        Path, typer.Argument(help="FactsExtracted JSON, `quoteflow extract` output, or bare key facts; - for stdin.")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="markdown, html, pdf or json (the event).")] = "markdown",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (a folder when the input holds several threads).")
    ] = None,
    language: Annotated[str | None, typer.Option(help="ko or en; default: the thread's language.")] = None,
    tenant: Annotated[str | None, tenant_option("Tenant whose templates and quote.toml apply.")] = None,
    number: Annotated[str | None, typer.Option(help="Quote number (default Q-<year>-DRAFT).")] = None,
    revision: Annotated[int, typer.Option(min=1, help="Revision number.")] = 1,
    issue_date: Annotated[str | None, typer.Option("--date", help="Issue date YYYY-MM-DD (default today).")] = None,
    template_dir: Annotated[Path | None, typer.Option(help="Per-tenant override folder.")] = None,
    vat_mode: Annotated[str | None, typer.Option(help="excluded, included or exempt if the thread says none.")] = None,
) -> None:
    """Render quote documents (견적서 / Quotation) from facts, without a broker."""
    from pydantic import ValidationError

    from services.quote.handlers import build_quote_event, local_today
    from services.quote.numbering import QuoteSlot
    from services.quote.render import QuoteRenderer, render_pdf
    from services.quote.settings import QuoteSettings
    from services.quote.tenants import QuoteConfigError

    if fmt not in FORMAT_SUFFIXES:
        raise UserError(f"unknown --format {fmt!r}: choose markdown, html, pdf or json")
    if language not in (None, "ko", "en"):
        raise UserError(f"unknown --language {language!r}: choose ko or en")
    overrides: dict[str, Any] = {}
    if template_dir is not None:
        if not template_dir.is_dir():
            raise UserError(f"{template_dir}: no such folder")
        overrides["template_dir"] = template_dir
    if vat_mode is not None:
        overrides["vat_mode"] = vat_mode
    try:
        settings = QuoteSettings(**overrides)
        today = date.fromisoformat(issue_date) if issue_date else local_today(settings.timezone)()
    except ValidationError as exc:
        raise UserError(f"invalid option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from exc
    except ValueError as exc:
        raise UserError(f"invalid --date {issue_date!r}: use YYYY-MM-DD") from exc

    source = "stdin" if str(facts_file) == "-" else str(facts_file)
    text = read_json_text(facts_file, "facts")
    events = [to_event(doc, source, language, tenant) for doc in read_documents(text, source)]
    if len(events) > 1 and out is not None and out.exists() and not out.is_dir():
        raise UserError(f"{out}: the input holds {len(events)} threads; give a folder for --out")
    if fmt == "pdf" and out is None:
        raise UserError("--format pdf writes a file: give --out")

    renderer = QuoteRenderer(settings)
    slot = QuoteSlot(quote_number=number or f"Q-{today.year}-DRAFT", revision=revision)
    targets = output_paths(out, [event.thread_id for event in events], FORMAT_SUFFIXES[fmt])
    for event, target in zip(events, targets, strict=True):
        try:
            document = build_quote_event(event, slot, settings, today, renderer)
            content: str | bytes
            if fmt == "pdf":
                content = render_pdf(document.html)
            elif fmt == "json":
                content = document.model_dump_json(indent=2)
            else:
                content = document.html if fmt == "html" else document.markdown
        except QuoteConfigError as exc:
            raise UserError(str(exc)) from exc
        if out is None:
            sys.stdout.write(content if isinstance(content, str) else "")
            if isinstance(content, str) and not content.endswith("\n"):
                sys.stdout.write("\n")
            continue
        assert target is not None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{target}: cannot write ({exc.strerror or exc})") from exc
        review = f" (review: {', '.join(document.missing_fields)})" if document.needs_review else ""
        print(f"{target}: {document.quote_number} rev {document.revision}{review}", file=sys.stderr)


def register_commands(app: typer.Typer) -> None:
    app.command()(quote)
