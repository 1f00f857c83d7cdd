"""Helpers every `quoteflow` command module uses: one-line user errors, running coroutines, path arguments."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

PathsArg = Annotated[list[Path], typer.Argument(help=".eml or .mbox files, or folders of them.")]


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 1."""


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


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run the CLI's coroutine on uvloop where it is installed (Linux, macOS): a faster event loop
    for a service that spends much of its time in Kafka and Redis I/O."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    return uvloop.run(coro)
