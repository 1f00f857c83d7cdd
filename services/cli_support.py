"""Helpers every `quoteflow` command module uses: one-line user errors, running coroutines, path arguments."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from shared.errors import UserError as UserError  # re-exported: commands import it from here
from shared.loop import run_async as run_async  # re-exported: commands import it from here

if TYPE_CHECKING:
    from services.ingest.mailfiles import MailFile

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

PathsArg = Annotated[list[Path], typer.Argument(help=".eml, .msg (Outlook) or .mbox files, or folders of them.")]


JSON_MAX_BYTES = 64 * 1024 * 1024
"""Largest JSON input a command reads (facts, metrics): the size of the largest Kafka record."""


def read_mail_inputs(paths: Iterable[Path]) -> list[MailFile]:
    """Mail files for a command, with every read problem (missing, too large, a FIFO) as a one-line UserError."""
    from services.ingest.mailfiles import read_mail_files

    try:
        return read_mail_files([Path(p) for p in paths])
    except OSError as exc:
        raise UserError(str(exc)) from exc


def read_json_text(path: Path, what: str = "JSON", limit: int = JSON_MAX_BYTES) -> str:
    """A JSON input's text: ``-`` is stdin; a regular file of at most ``limit`` bytes (never read past it).

    Decoded as UTF-8 with an optional byte-order mark (editors on Windows write one).
    """
    from services.ingest.mailfiles import read_limited

    source = "stdin" if str(path) == "-" else str(path)
    try:
        if source == "stdin":
            data = sys.stdin.buffer.read(limit + 1)
            if len(data) > limit:
                raise UserError(f"stdin: more than the {what} limit of {limit} bytes")
        else:
            data = read_limited(path, limit, what)
        return data.decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise UserError(f"{source}: cannot read (No such file or directory)") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise UserError(str(exc) if source != "stdin" else f"stdin: cannot read ({exc})") from exc


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe_text(value: str) -> str:
    """Untrusted text made safe for a terminal: control characters (ESC, CR, BEL, bidi overrides)
    become visible escapes such as ``\\x1b``, so a key or header cannot move the cursor or clear
    the screen. Print the result as a rich ``Text`` (or escape it) so ``[bold]`` stays literal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


def check_tenant_option(value: str | None) -> str | None:
    """Validate ``--tenant`` with the system-wide rule before it reaches a key, header or folder."""
    from shared.tenants import InvalidTenantError, check_tenant

    if value is None:
        return None
    try:
        return check_tenant(value)
    except InvalidTenantError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tenant") from exc


def tenant_option(help_text: str) -> Any:
    """A ``--tenant`` option checked against the tenant-id rule (shared/tenants.py)."""
    return typer.Option("--tenant", help=help_text, callback=check_tenant_option)
