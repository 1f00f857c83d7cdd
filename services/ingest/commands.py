"""Ingest commands: `quoteflow normalize` (no broker needed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from services.cli_support import PathsArg, UserError, err_console, read_mail_inputs, run_async, safe_text


def normalize(
    paths: PathsArg,
    own_domain: Annotated[
        list[str] | None,
        typer.Option("--own-domain", help="Our company's mail domain (repeatable); its senders take --own-role."),
    ] = None,
    own_role: Annotated[str, typer.Option(help="Side our company plays: supplier or buyer.")] = "supplier",
    compact: Annotated[bool, typer.Option("--compact", help="One JSON document per line instead of indented.")] = False,
) -> None:
    """Print the normalized thread JSON of e-mail files (.eml, .mbox, maildir folders), without a broker.

    Messages that are not e-mail are reported on stderr with the reason (the service would
    dead-letter them); the command fails only when no thread could be built at all.
    """
    from services.ingest.mailfiles import Rejected, assemble_offline_detailed
    from services.ingest.settings import IngestSettings

    if own_role not in ("supplier", "buyer"):
        raise UserError(f"unknown role {own_role!r}: choose supplier or buyer")
    update: dict[str, object] = {"own_role": own_role}
    if own_domain:
        update["own_domains"] = [d.strip().lower() for d in own_domain if d.strip()]
    settings = IngestSettings().model_copy(update=update)
    files = read_mail_inputs(paths)
    if not files:
        raise UserError("no .eml, .mbox or maildir found")

    def report(rejected: Rejected) -> None:
        err_console.print(Text(safe_text(f"skipped {rejected.path} message {rejected.index + 1}: {rejected.reason}")))

    threads = 0
    for file in files:
        result = run_async(assemble_offline_detailed(file, settings, on_reject=report))
        if result.thread is not None:
            threads += 1
            print(result.thread.model_dump_json(indent=None if compact else 2))
    if threads == 0:
        raise UserError("no e-mail could be normalized")


def register_commands(app: typer.Typer) -> None:
    app.command()(normalize)
