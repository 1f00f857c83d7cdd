"""Synth commands: `quoteflow synth` (threads in the SPEC.md §2 layout) and `quoteflow datasets` (training JSONL)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from services.cli_support import UserError, console


def synth(
    n: Annotated[int, typer.Option("--n", help="How many threads to write.")] = 1155,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same threads.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for <id>/thread.mbox + <id>/expected.json.")] = Path(
        "synthetic"
    ),
    agent: Annotated[
        bool, typer.Option("--agent", help="Let a buyer and a supplier LLM agent converse (needs QUOTEFLOW_LLM_URL).")
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Generator processes (default: up to 4).")] = None,
) -> None:
    """Write N synthetic buyer–supplier threads with their ground truth (deterministic for a seed)."""
    if n < 1:
        raise UserError("--n must be at least 1")
    started = time.perf_counter()
    if agent:
        from services.trainer.synth.agents import AgentUnavailable, run_agent_synth

        try:
            written = run_agent_synth(n=n, seed=seed, out_dir=out)
        except AgentUnavailable as exc:
            raise UserError(str(exc)) from exc
        console.print(
            f"wrote {written.threads} agent thread(s) ({written.rejected} rejected by the truth check) "
            f"to {out.resolve()}"
        )
        return
    from services.trainer.synth.writer import write_dataset

    result = write_dataset(n, seed, out, progress=True, workers=workers)
    elapsed = time.perf_counter() - started
    languages = ", ".join(f"{k} {v}" for k, v in sorted(result.languages.items()))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.kinds.items()))
    console.print(
        f"wrote {result.threads} threads ({result.messages} messages; {languages}; {kinds}) "
        f"to {out.resolve()} in {elapsed:.1f}s"
    )


def datasets(
    threads_dir: Annotated[Path, typer.Argument(help="Folder in the SPEC.md §2 layout (e.g. from `quoteflow synth`).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the JSONL files.")] = Path("datasets"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/validation/test split.")] = 0,
) -> None:
    """Build training JSONL (domain text, PIT Q/A, extraction, summary+tags) with thread-disjoint splits."""
    from services.trainer.cases import LayoutError
    from services.trainer.synth.datasets import build_training_sets

    try:
        paths = build_training_sets(threads_dir, out, seed)
    except LayoutError as exc:
        raise UserError(str(exc)) from exc
    console.print(f"wrote {len(paths) - 1} JSONL files and manifest.json to {out.resolve()}")


def register_commands(app: typer.Typer) -> None:
    app.command()(synth)
    app.command(name="synth-datasets")(datasets)
