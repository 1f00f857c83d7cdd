"""Trainer commands: `quoteflow train`, `quoteflow adapters list`, `quoteflow adapters rollback`.

torch/transformers are imported inside the commands only, so `quoteflow --help` stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer

from services.cli_support import UserError, console, err_console, run_async

adapters_app = typer.Typer(
    help="The LoRA adapter registry: list adapters, roll back to the previous one, ship one in the repository."
)


@contextlib.asynccontextmanager
async def _connections(settings: object) -> AsyncIterator[tuple[object, object | None]]:
    """(store, announcer): the configured Redis and Kafka, or an in-process store and no announcer."""
    from services.trainer.registry import AdapterAnnouncer, broker_publisher
    from services.trainer.settings import TrainerSettings
    from shared.broker import build_broker
    from shared.store import MemoryStore, build_store
    from shared.telemetry import build_telemetry

    assert isinstance(settings, TrainerSettings)
    if settings.embedded_kafka or settings.embedded_redis:
        yield MemoryStore(), None
        return
    client = settings.model_copy(update={"service_name": "quoteflow-trainer-cli"})
    telemetry = build_telemetry(client)
    broker = build_broker(client, telemetry)
    store = build_store(client)
    try:
        await broker.connect()
        yield store, AdapterAnnouncer(store, broker_publisher(broker))
    finally:
        await broker.stop()
        await store.close()
        telemetry.shutdown()


def train(
    recipe: Annotated[Path | None, typer.Option("--recipe", help="Recipe YAML (default: Gemma 2 2B LoRA).")] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Base model folder, e.g. /models/gemma-2-2b-it.")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Recipe override key=value (repeatable), e.g. lora_r=8 or stages.0.max_steps=5."),
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Cap every stage at N steps.")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Epochs per stage (recipe default).")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Learning rate (recipe default).")] = None,
) -> None:
    """Train a LoRA adapter now (all stages), evaluate it against the one in service, and promote it if F1 holds."""
    from services.trainer.scheduler import RunInProgressError, TrainingCoordinator
    from services.trainer.settings import TrainerSettings
    from services.trainer.training.recipe import RecipeError, load_recipe
    from services.trainer.training.stages import NothingToTrainError
    from shared.telemetry import configure_logging

    settings = TrainerSettings()
    configure_logging(settings)
    extra = list(overrides or [])
    for key, value in (("max_steps", max_steps), ("num_train_epochs", epochs), ("learning_rate", learning_rate)):
        if value is not None:
            extra.append(f"{key}={value}")
    try:
        chosen = load_recipe(recipe or settings.recipe, overrides=extra, base_model=base_model or settings.base_model)
    except RecipeError as exc:
        raise UserError(str(exc)) from exc

    async def main() -> object:
        async with _connections(settings) as (store, announcer):
            if announcer is None:
                err_console.print(
                    "[yellow]no QUOTEFLOW_KAFKA_BOOTSTRAP/QUOTEFLOW_REDIS_URL: the result is recorded in the "
                    "registry only; the trainer service announces it when it starts[/]"
                )
            coordinator = TrainingCoordinator(settings, store, announcer, console=err_console)  # type: ignore[arg-type]
            return await coordinator.run(chosen, trigger="cli")

    try:
        report = run_async(main())
    except RunInProgressError as exc:
        raise UserError(str(exc)) from exc
    except (NothingToTrainError, FileNotFoundError, FileExistsError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    _print_report(report)


def _print_report(report: object) -> None:
    from rich.table import Table

    from services.trainer.scheduler import RunReport

    assert isinstance(report, RunReport)
    event = report.event
    table = Table(title=f"adapter {event.adapter_id}", show_header=False)
    table.add_row("promoted", "[green]yes[/]" if event.promoted else "[red]no[/]")
    table.add_row("reason", event.reason)
    for name, value in sorted(event.metrics.items()):
        baseline = event.baseline_metrics.get(name)
        table.add_row(name, f"{value:.4f}" + (f"  (in service {baseline:.4f})" if baseline is not None else ""))
    for stage, losses in report.losses.items():
        if losses:
            table.add_row(f"loss {stage}", f"{losses[0]:.4f} → {losses[-1]:.4f} ({len(losses)} steps)")
    table.add_row("dataset size", str(event.dataset_size))
    table.add_row("base model", event.base_model)
    table.add_row("adapter", event.path)
    table.add_row("loss curve", str(report.loss_curve or "-"))
    table.add_row("announced", "yes" if report.announced else "no (registry only)")
    console.print(table)


@adapters_app.command("list")
def list_adapters() -> None:
    """All trained adapters with their key-fact F1; the one in service is marked."""
    from rich.table import Table
    from rich.text import Text

    from services.cli_support import safe_text
    from services.trainer.registry import AdapterRegistry, RegistryError
    from services.trainer.settings import TrainerSettings

    settings = TrainerSettings()
    registry = AdapterRegistry(settings.adapters_dir)
    try:
        state = registry.load()
    except RegistryError as exc:
        raise UserError(str(exc)) from exc
    if not state.adapters:
        console.print(f"no adapters in {registry.path}")
        return
    current = state.promotions[-1] if state.promotions else None
    table = Table(title=f"adapters in {settings.adapters_dir}")
    table.add_column("adapter", no_wrap=True)
    table.add_column("created")
    table.add_column("status", no_wrap=True)
    table.add_column("F1", justify="right")
    table.add_column("F1 before", justify="right")
    table.add_column("examples", justify="right")
    table.add_column("formats", no_wrap=True)
    table.add_column("base model", overflow="fold")
    for event in sorted(state.adapters.values(), key=lambda e: e.created_at):
        status = (
            "[green]in service[/]" if event.adapter_id == current else ("promoted" if event.promoted else "rejected")
        )
        f1 = event.metrics.get("key_fact_f1")
        baseline = event.baseline_metrics.get("key_fact_f1")
        table.add_row(
            Text(safe_text(event.adapter_id)),
            event.created_at.strftime("%Y-%m-%d %H:%M"),
            status,
            f"{f1:.4f}" if f1 is not None else "-",
            f"{baseline:.4f}" if baseline is not None else "-",
            str(event.dataset_size),
            _formats_cell(state.formats.get(event.adapter_id, {})),
            Text(safe_text(event.base_model)),
        )
    console.print(table)


def _formats_cell(formats: dict[str, object]) -> str:
    """peft, peft+gguf (checked against PEFT), or peft with the GGUF refused."""
    gguf = formats.get("gguf")
    if not isinstance(gguf, dict) or not gguf.get("required"):
        return "peft"
    return "peft+gguf" if gguf.get("exported") else "peft [red](gguf refused)[/]"


@adapters_app.command("rollback")
def rollback(
    local: Annotated[
        bool, typer.Option("--local", help="Without a broker: change the registry only (announced at service start).")
    ] = False,
) -> None:
    """Put the previously promoted adapter back in service (registry, adapters:promoted, models.adapters)."""
    from services.trainer.registry import AdapterRegistry, RegistryError
    from services.trainer.settings import TrainerSettings

    settings = TrainerSettings()
    registry = AdapterRegistry(settings.adapters_dir)
    try:
        event, state = registry.plan_rollback()
    except RegistryError as exc:
        raise UserError(str(exc)) from exc
    if (settings.embedded_kafka or settings.embedded_redis) and not local:
        raise UserError("rollback needs QUOTEFLOW_KAFKA_BOOTSTRAP and QUOTEFLOW_REDIS_URL (or --local)")

    async def announce() -> None:
        async with _connections(settings) as (_store, announcer):
            if announcer is not None:
                await announcer.announce(event)  # type: ignore[attr-defined]

    run_async(announce())
    registry.save(state)
    console.print(f"in service now: [green]{event.adapter_id}[/] (rolled back from {event.previous_adapter_id})")


@adapters_app.command("regate")
def regate(
    adapter_id: Annotated[str, typer.Argument(help="An adapter in the registry, e.g. one the gate refused.")],
    recipe: Annotated[Path | None, typer.Option("--recipe", help="Recipe YAML its run used.")] = None,
) -> None:
    """Export, check and gate an adapter again without training it again (after a check or gate changed).

    The verdict is recorded in the registry; a promoted adapter is announced when a broker is configured, else
    when the trainer service next starts.
    """
    from services.trainer.registry import RegistryError
    from services.trainer.scheduler import regate_blocking
    from services.trainer.settings import TrainerSettings
    from services.trainer.training.recipe import RecipeError, load_recipe
    from shared.telemetry import configure_logging

    settings = TrainerSettings()
    configure_logging(settings)
    try:
        chosen = load_recipe(recipe or settings.recipe, base_model=settings.base_model)
        report = regate_blocking(settings, chosen, adapter_id, err_console)
    except (RecipeError, RegistryError, FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc

    async def announce() -> bool:
        async with _connections(settings) as (_store, announcer):
            if announcer is None or not report.event.promoted:
                return False
            await announcer.announce(report.event)  # type: ignore[attr-defined]
            return True

    report.announced = run_async(announce())
    _print_report(report)


@adapters_app.command("bundle")
def bundle(adapter_id: Annotated[str, typer.Argument(help="A promoted adapter with a checked GGUF LoRA.")]) -> None:
    """Ship an adapter in the repository (models/adapters/<id>/): a fresh checkout's LLM engine starts with it."""
    from services.trainer.registry import AdapterRegistry, RegistryError, bundle_adapter
    from services.trainer.settings import TrainerSettings

    try:
        target = bundle_adapter(AdapterRegistry(TrainerSettings().adapters_dir), adapter_id)
    except RegistryError as exc:
        raise UserError(str(exc)) from exc
    size = sum(f.stat().st_size for f in target.iterdir())
    console.print(f"shipped [green]{adapter_id}[/] in {target} ({size / 1e6:.1f} MB); commit it")


def register_commands(app: typer.Typer) -> None:
    app.command()(train)
    app.add_typer(adapters_app, name="adapters")
