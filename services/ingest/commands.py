"""Ingest commands: `quoteflow normalize`."""

from __future__ import annotations

import typer

from services.cli_support import PathsArg, run_async


def normalize(paths: PathsArg) -> None:
    """Print the normalized thread JSON of e-mail files (.eml, .mbox), without a broker."""
    from services.ingest.mailfiles import assemble_offline, read_mail_files
    from services.ingest.settings import IngestSettings

    settings = IngestSettings()
    for file in read_mail_files(paths):
        thread = run_async(assemble_offline(file, settings))
        if thread is not None:
            print(thread.model_dump_json(indent=2))


def register_commands(app: typer.Typer) -> None:
    app.command()(normalize)
