"""Evaluation command: `quoteflow eval DIR` (key-fact F1, tag F1, SemScore, LLM judge, baseline, report)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from services.cli_support import UserError, console, read_json_text


def eval_command(
    threads_dir: Annotated[Path, typer.Argument(help="Folder of <id>/thread.mbox + <id>/expected.json (SPEC.md §2).")],
    engine: Annotated[str, typer.Option("--engine", help="rules, llm, hybrid, baseline (comma list) or all.")] = "all",
    compare: Annotated[Path | None, typer.Option("--compare", help="An earlier metrics.json to diff against.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json, report.md and PNG plots.")] = Path(
        "eval-report"
    ),
    limit: Annotated[int | None, typer.Option(help="Only the first N threads.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes for offline engines (default: CPUs).")] = None,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Tag F1 and SemScore.")] = True,
    model: Annotated[
        bool, typer.Option("--model/--no-model", help="Sentence-embedding model (else character n-grams).")
    ] = True,
    judge: Annotated[bool, typer.Option("--judge/--no-judge", help="LLM judge + FineSurE when an LLM is set.")] = True,
    judge_sample: Annotated[int, typer.Option(help="Summaries per engine the LLM judge reads.")] = 50,
    semscore_sample: Annotated[
        int, typer.Option(help="Threads whose summaries SemScore embeds (0: all; embedding is the slow part).")
    ] = 100,
    adapter: Annotated[
        str | None,
        typer.Option(
            "--adapter",
            metavar="ID|none",
            help="llm engine: `none` scores the base model even if an adapter is promoted, an id that adapter "
            "from the registry (default: QUOTEFLOW_LLM_ADAPTER, else the promoted one).",
        ),
    ] = None,
) -> None:
    """Score engines on labelled threads; `all` = rules + baseline, plus llm when QUOTEFLOW_LLM_URL is set.

    llm and hybrid without QUOTEFLOW_LLM_URL run on the embedded CPU model (tens of seconds per thread).
    """
    from services.trainer.cases import LayoutError
    from services.trainer.evaluation.report import write_report
    from services.trainer.evaluation.runner import ENGINES, EvalError, evaluate

    engines = _engines(engine, ENGINES)
    if adapter is not None:
        _check_adapter(adapter, engines)
    old = _load_old(compare) if compare else None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:

        def progress(total: int) -> Callable[[], None]:
            task = bar.add_task("threads", total=total)
            return lambda: bar.advance(task)

        try:
            run = evaluate(
                threads_dir,
                engines,
                workers=workers,
                limit=limit,
                semantic=semantic,
                use_model=model,
                judge=judge,
                judge_sample=judge_sample,
                semscore_sample=semscore_sample or None,
                progress=progress,
                llm_adapter=adapter,
            )
        except (EvalError, LayoutError) as exc:
            raise UserError(str(exc)) from exc
    paths = write_report(run.metrics, out)
    _print_headline(run.metrics)
    console.print(f"LLM judge: {run.metrics['llm_judge']}")
    console.print(f"report: {paths['report']}  metrics: {paths['metrics']}  plots: {out.resolve()}")
    if old is not None:
        _print_compare(old, run.metrics)


def _engines(choice: str, known: tuple[str, ...]) -> list[str]:
    if choice == "all":
        from services.extract.api import ExtractSettings

        return ["rules", "baseline"] + (["llm"] if ExtractSettings().llm_url else [])
    names = [c.strip() for c in choice.split(",") if c.strip()]
    for name in names:
        if name not in known:
            raise UserError(f"unknown engine {name!r}: choose rules, llm, hybrid, baseline or all")
    return names


def _check_adapter(adapter: str, engines: list[str]) -> None:
    """Refuse an ``--adapter`` without the llm engine, or one the registry does not have, before any scoring."""
    from services.extract.api import ExtractSettings, adapter_choice
    from services.trainer.settings import TrainerSettings

    if not {"llm", "hybrid"} & set(engines):
        raise UserError("--adapter chooses the llm engine's adapter: add llm to --engine (e.g. --engine llm)")
    adapter_choice(ExtractSettings(llm_adapter=adapter), TrainerSettings().adapters_dir)


def _load_old(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_json_text(path, "metrics.json"))
    except UserError as exc:
        raise UserError(f"--compare: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"--compare: {path} is not a metrics.json ({exc})") from exc
    if not isinstance(data, dict) or "engines" not in data:
        raise UserError(f"--compare: {path} is not a metrics.json written by `quoteflow eval`")
    return data


def _print_headline(metrics: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"QuoteFlow eval: {metrics['dataset']['threads']} threads in {metrics['wall_seconds']:.1f}s")
    for column in ("engine", "key-fact F1", "macro F1", "ko", "en", "mixed", "tag F1", "SemScore", "errors"):
        table.add_column(column)
    for name, data in metrics["engines"].items():
        by_language = data["by_language"]
        table.add_row(
            name,
            f"{data['key_fact_f1']['f1']:.3f}",
            f"{data['key_fact_f1']['macro_f1']:.3f}",
            *(f"{by_language[lang]['f1']:.3f}" if lang in by_language else "-" for lang in ("ko", "en", "mixed")),
            f"{(data.get('tag_f1') or {}).get('f1', 0):.3f}" if data.get("tag_f1") else "-",
            f"{data['semscore']['mean']:.3f}" if (data.get("semscore") or {}).get("mean") is not None else "-",
            str(data["errors"]),
        )
    console.print(table)


def _print_compare(old: dict[str, Any], new: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from services.trainer.evaluation.runner import compare

    table = Table(title="Compared with the earlier run")
    for column in ("engine", "metric", "old", "new", "Δ"):
        table.add_column(column)
    for engine, metric, before, after in compare(old, new):
        if (before is None or after is None) and metric.startswith("f1."):
            continue  # an engine or field only one run has: its headline rows say so
        if before is None or after is None:
            delta = "new" if before is None else "gone"
        else:
            change = after - before
            if abs(change) < 1e-9 and metric.startswith("f1."):
                continue
            colour = "green" if change > 1e-9 else "red" if change < -1e-9 else "white"
            delta = f"[{colour}]{change:+.3f}[/]"
        table.add_row(
            engine,
            escape(metric),
            "-" if before is None else f"{before:.3f}",
            "-" if after is None else f"{after:.3f}",
            delta,
        )
    console.print(table)


def register_commands(app: typer.Typer) -> None:
    app.command(name="eval")(eval_command)
