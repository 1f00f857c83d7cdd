"""The `quoteflow` command line (SPEC.md §2).

Every command reports a failure as one line on stderr and a non-zero exit code;
tracebacks go to the log only with ``--debug``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from services import pipeline
from services.cli_support import (
    PathsArg,
    UserError,
    console,
    err_console,
    read_mail_inputs,
    safe_text,
    tenant_option,
)
from services.cli_support import run_async as _run
from shared.settings import Settings
from shared.telemetry import configure_logging

if TYPE_CHECKING:
    from pydantic import ValidationError

app = typer.Typer(
    name="quoteflow",
    help="Turn buyer–supplier e-mail threads into quotes (self-hosted).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# --------------------------------------------------------------------------- pipeline


@app.command()
def run() -> None:
    """Start all services and the review desk on the embedded (or configured) Kafka and Redis until Ctrl-C."""
    settings = Settings()
    configure_logging(settings)

    async def main() -> None:
        from shared.embedded import embedded_stack

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with (
            embedded_stack(settings) as stack,
            pipeline.running_services(stack.settings, pipeline.ALL_SERVICE_NAMES) as runtimes,
        ):
            console.print(
                f"[green]QuoteFlow running[/]: kafka={stack.settings.kafka_bootstrap} "
                f"({'embedded' if settings.embedded_kafka else 'configured'}), "
                f"redis={'embedded' if settings.embedded_redis else 'configured'}. Ctrl-C stops."
            )
            for runtime in runtimes:
                url = getattr(runtime, "url", None)
                if url:
                    console.print(Text(f"review desk: {url}"))
                    _hint_users(runtime.settings)
            await stop.wait()
        console.print("stopped")

    _run(main())


def _hint_users(settings: Settings) -> None:
    """Say how to add the first desk user when there is none (and no SSO)."""
    from services.review.settings import ReviewSettings
    from services.review.users import UsersFileError, read_users

    if not isinstance(settings, ReviewSettings) or settings.sso_header:
        return
    try:
        empty = not read_users(settings.users_path())
    except UsersFileError as exc:
        err_console.print(Text(f"review desk: {safe_text(str(exc))}", style="red"))
        return
    if empty:
        console.print(Text(f"no desk users yet: quoteflow review-user add NAME --tenant {settings.tenant}"))


@app.command()
def serve(service: Annotated[str, typer.Argument(help="ingest, extract, quote, trainer or review")]) -> None:
    """Run one service alone against the configured Kafka and Redis (QUOTEFLOW_KAFKA_BOOTSTRAP, QUOTEFLOW_REDIS_URL)."""
    if service not in pipeline.ALL_SERVICE_NAMES:
        raise UserError(f"unknown service {service!r}: choose one of {', '.join(pipeline.ALL_SERVICE_NAMES)}")
    settings = Settings()
    configure_logging(settings)
    if settings.embedded_kafka or settings.embedded_redis:
        raise UserError("serve needs QUOTEFLOW_KAFKA_BOOTSTRAP and QUOTEFLOW_REDIS_URL (or use `quoteflow run`)")
    runtime = pipeline.build_named_service(service, settings)
    if service == "review":
        from services.review.main import ReviewRuntime, serve_forever

        assert isinstance(runtime, ReviewRuntime)
        serve_forever(runtime)
        return
    _run(runtime.app().run())


@app.command()
def process(
    paths: PathsArg,
    out: Annotated[Path, typer.Option("--out", help="Folder for the quotes.")] = Path("out"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all quotes.")] = 120.0,
) -> None:
    """Feed e-mail files through the pipeline over Kafka and write each resulting quote into --out."""
    from shared.tenants import UnsafeNameError

    settings = Settings()
    configure_logging(settings)
    files = read_mail_inputs(paths)
    if not files:
        raise UserError("no .eml or .mbox files found")

    async def main() -> list[pipeline.ThreadOutcome]:
        from shared.embedded import embedded_stack

        async with embedded_stack(settings) as stack:
            await pipeline.check_redis(stack.settings)  # before services start retrying against it
            if settings.embedded_kafka:
                async with pipeline.running_services(stack.settings):
                    return await pipeline.process_files(files, stack.settings, timeout_s=timeout)
            return await pipeline.process_files(files, stack.settings, timeout_s=timeout)

    with console.status(f"processing {sum(len(f.messages) for f in files)} message(s) in {len(files)} file(s)…"):
        try:
            outcomes = _run(main())
        except pipeline.PipelineUnavailable as exc:
            raise UserError(str(exc)) from exc
    table = Table(title="QuoteFlow: processed threads")
    table.add_column("file → folder", overflow="fold", ratio=3)
    table.add_column("msgs", justify="right")
    table.add_column("quote", overflow="fold", ratio=2)
    table.add_column("total", justify="right", overflow="fold")
    table.add_column("review", overflow="fold", ratio=3)
    failed = 0
    for outcome in outcomes:
        source = outcome.source
        try:
            written = pipeline.write_outcome(outcome, out)
        except OSError as exc:
            raise UserError(f"{out}: cannot write the quotes ({exc.strerror or exc})") from exc
        except UnsafeNameError as exc:
            raise UserError(f"{out}: cannot write the quotes ({exc})") from exc
        quote = outcome.quote
        if not outcome.ok:
            failed += 1
        if outcome.done and quote is not None:
            review = Text(("yes: " + ", ".join(quote.missing_fields)) if quote.needs_review else "no")
        else:
            review = Text(safe_text(outcome.status()), style="green" if outcome.settled else "red")
        table.add_row(
            Text(safe_text(source) + (f" → {outcome.name}/" if written and outcome.name != Path(source).stem else "")),
            str(outcome.messages),
            Text(f"{safe_text(quote.quote_number)} r{quote.revision}") if quote else "-",
            f"{quote.total:,} {quote.currency or ''}" if quote and quote.total is not None else "-",
            review,
        )
    console.print(table)
    console.print(Text(f"quotes written to {out.resolve()}"))
    if failed:
        raise UserError(f"{failed} of {len(outcomes)} file(s) did not produce a final quote")


@app.command()
def publish(
    paths: PathsArg,
    tenant: Annotated[str | None, tenant_option("Tenant header for the messages.")] = None,
) -> None:
    """Send e-mail files to quoteflow.emails.raw on the configured broker."""
    settings = Settings()
    configure_logging(settings)
    if settings.embedded_kafka:
        raise UserError("publish needs QUOTEFLOW_KAFKA_BOOTSTRAP (a running pipeline's broker)")
    files = read_mail_inputs(paths)

    async def main() -> int:
        from shared import topics
        from shared.broker import build_broker
        from shared.telemetry import build_telemetry

        client = settings.model_copy(update={"service_name": "quoteflow-cli"})
        telemetry = build_telemetry(client)
        broker = build_broker(client, telemetry)
        sent = 0
        try:
            await broker.connect()
            headers = {"x-quoteflow-tenant": tenant} if tenant else None
            for file in files:
                for raw in file.messages:
                    await broker.publish(raw, topics.EMAILS_RAW, key=file.name.encode(), headers=headers)
                    sent += 1
        finally:
            await broker.stop()
            telemetry.shutdown()
        return sent

    console.print(f"published {_run(main())} message(s) to quoteflow.emails.raw")


# --------------------------------------------------------------------------- dead letters

dlq_app = typer.Typer(help="Dead-letter topics: why messages failed; replay them once fixed.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
TopicArg = Annotated[str, typer.Argument(help="Source topic, e.g. emails.raw or quoteflow.facts.extracted.")]


def _configured_settings() -> Settings:
    settings = Settings()
    if settings.embedded_kafka:
        raise UserError("dlq needs QUOTEFLOW_KAFKA_BOOTSTRAP (the pipeline's broker)")
    return settings


@dlq_app.command("show")
def dlq_show(topic: TopicArg, limit: Annotated[int, typer.Option(help="Most records to list.")] = 50) -> None:
    """List dead letters of a topic with the reason each failed."""
    from services import dlq

    name = _dead_letter_topic(topic)
    letters = _run(dlq.show(_configured_settings(), name, limit))
    table = Table(title=Text(f"{name}: {len(letters)} dead letter(s)"))
    for column in ("partition", "offset", "key", "service", "attempt", "error", "bytes"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        # Keys and headers are whatever a producer sent: shown literally, control characters escaped.
        table.add_row(
            str(letter.partition),
            str(letter.offset),
            Text(safe_text(letter.key)),
            Text(safe_text(letter.service)),
            Text(safe_text(letter.attempt)),
            Text(safe_text(f"{letter.error_class.rsplit('.', 1)[-1]}: {letter.error_message}")),
            str(letter.size),
        )
    console.print(table)


def _dead_letter_topic(topic: str) -> str:
    """The .dlq topic for a name, or one line "no such topic ..." (exit 1)."""
    from services import dlq

    try:
        return dlq.dead_letter_topic(topic)
    except dlq.UnknownTopic as exc:
        raise UserError(safe_text(str(exc))) from exc


@dlq_app.command("replay")
def dlq_replay(topic: TopicArg, limit: Annotated[int, typer.Option(help="Most records to replay.")] = 1000) -> None:
    """Publish dead letters back to their source topic (each once)."""
    from services import dlq

    name = _dead_letter_topic(topic)
    count = _run(dlq.replay(_configured_settings(), name, limit))
    console.print(Text(f"replayed {count} message(s) from {name}"))


# --------------------------------------------------------------------------- service commands

COMMAND_MODULES = (
    "services.ingest.commands",
    "services.commands.extract",
    "services.quote.commands",
    "services.trainer.commands",
    "services.trainer.synth.commands",
    "services.trainer.evaluation.commands",
    "services.review.commands",
)


def _register_service_commands() -> None:
    """Each service contributes its own commands (heavy imports stay inside the commands)."""
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        module.register_commands(app)


_register_service_commands()


# --------------------------------------------------------------------------- entry point


def main() -> None:
    """Console entry point: one-line errors, never a traceback (unless QUOTEFLOW_DEBUG=1)."""
    import os

    debug = os.environ.get("QUOTEFLOW_DEBUG") == "1"
    try:
        app(standalone_mode=False)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            logging.getLogger("quoteflow").exception("command failed")
        err_console.print(f"[red]error:[/] {escape(_one_line(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)


def _one_line(exc: BaseException) -> str:
    """The first line of an error (control characters escaped), with the exception class only where it is
    not a user error."""
    import click
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return safe_text(_validation_line(exc))
    if isinstance(exc, click.ClickException) or callable(getattr(exc, "format_message", None)):
        text = str(exc.format_message())  # type: ignore[attr-defined]  # click's, or typer's vendored click
    else:
        text = str(exc)
    lines = text.strip().splitlines()
    first = safe_text(lines[0]) if lines else ""
    from services.ingest.mailfiles import MailFileError

    if isinstance(exc, UserError | FileNotFoundError | MailFileError) or callable(getattr(exc, "format_message", None)):
        return first
    return f"{type(exc).__name__}: {first}"


def _validation_line(exc: ValidationError) -> str:
    """A settings or model error as the user can fix it: which variable or field, and why."""
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if exc.title.endswith("Settings"):
        return f"invalid setting QUOTEFLOW_{where.upper()}: {message}{more}"
    return f"invalid {exc.title} {where}: {message}{more}"


if __name__ == "__main__":
    main()
