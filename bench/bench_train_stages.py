"""The talk's table: the base model few-shot, then the adapter after each training stage, scored the same way.

One training run of the CPU recipe (``services/trainer/recipes/gemma3-270m-cpu.yaml``, ``export.stage_snapshots``)
leaves ``stages/1-domain_adaptation/`` and ``stages/2-pre_instruction_tuning/`` beside the final adapter, each
with a GGUF LoRA. Every model here answers through the LLM engine as ``quoteflow eval --engine llm`` runs it:
the embedded llama.cpp server on the packaged Gemma 3 270M, zero-shot with an adapter and few-shot without one
(``llm_prompt_mode: auto``), the grammar on. A thread the engine hands to the rules engine (time budget, server
error) scores as empty facts, so each row is the model's own work (``fallbacks`` counts them).

Thread sets, never trained on: the run's thread-disjoint synthetic **test** split (the ids its manifest lists)
and the hand-written held-out threads ``tests/fixtures/threads_heldout`` (Korean, English, mixed; facts only:
they carry no reference summary). Figures per model and set: key-fact F1 overall, per field and per language,
tag F1, SemScore, seconds per thread; per stage, from the run's ``training_report.json``: training time, tokens,
tokens/s, peak resident memory, first and last loss. Written to ``bench/results/train_stages.md`` (the table),
``train_stages.png`` (F1 per stage) and ``train_loss.png`` (the run's loss curves).

The run: ``QUOTEFLOW_BENCH_RUN=<adapter folder>``; unset, the newest adapter in the registry
(``QUOTEFLOW_ADAPTERS_DIR``). ``QUOTEFLOW_BENCH_STAGE_THREADS`` threads per set (default 12; ``--quick``: 2).
Skipped, saying why, without the llm extra or without a run that kept its stage snapshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
HELDOUT = REPO / "tests" / "fixtures" / "threads_heldout"
BASE_CHOICE = "none"
STAGE_LABELS = {
    "domain_adaptation": "+ domain adaptation",
    "pre_instruction_tuning": "+ pre-instruction tuning",
    "task_tuning": "+ task tuning",
}


def find_run() -> Path | None:
    """The run's adapter folder: QUOTEFLOW_BENCH_RUN, or the newest adapter in the registry."""
    chosen = os.environ.get("QUOTEFLOW_BENCH_RUN")
    if chosen:
        return Path(chosen).resolve()  # the registry rows and the llama.cpp server need it from anywhere
    from services.trainer.registry import AdapterRegistry
    from services.trainer.settings import TrainerSettings

    adapters = AdapterRegistry(TrainerSettings().adapters_dir).list()
    return Path(adapters[-1].path) if adapters else None


def models_of(run: Path, report: dict[str, Any]) -> list[tuple[str, str, Path | None]]:
    """(label, id, folder) per row: the base model, each stage snapshot, the final adapter."""
    rows: list[tuple[str, str, Path | None]] = [("base model, few-shot", BASE_CHOICE, None)]
    for number, snapshot in enumerate(report.get("stage_snapshots") or [], start=1):
        folder = run / "stages" / Path(snapshot["path"]).name
        rows.append((STAGE_LABELS.get(snapshot["stage"], snapshot["stage"]), f"stage-{number}", folder))
    last = report["stages"][-1]["name"] if report.get("stages") else "final"
    rows.append((f"{STAGE_LABELS.get(last, last)} (final)", report["adapter_id"], run))
    return rows


@contextmanager
def stage_registry(run: Path, report: dict[str, Any], rows: list[tuple[str, str, Path | None]]) -> Iterator[Path]:
    """A throw-away registry listing every row's adapter, so the engine may be pinned to each (never promoted)."""
    from services.trainer.registry import AdapterRegistry
    from shared.events import AdapterEvent

    folder = Path(tempfile.mkdtemp(prefix="quoteflow-stages-"))
    registry = AdapterRegistry(folder)
    for label, adapter_id, path in rows:
        if path is None:
            continue
        event = AdapterEvent(
            adapter_id=adapter_id, base_model=str(report.get("base_model", "")), path=str(path), promoted=False
        )
        registry.record(event.model_copy(update={"reason": f"bench row: {label}"}))
    previous = os.environ.get("QUOTEFLOW_ADAPTERS_DIR")
    os.environ["QUOTEFLOW_ADAPTERS_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("QUOTEFLOW_ADAPTERS_DIR", None)
        else:
            os.environ["QUOTEFLOW_ADAPTERS_DIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)


def synthetic_test_dir(limit: int, into: Path) -> Path | None:
    """Links to the run's synthetic test threads (its manifest's ids), the first ``limit``."""
    from services.trainer.settings import TrainerSettings

    manifest_path = TrainerSettings().trainer_cache_dir / "sets" / "manifest.json"
    if not manifest_path.is_file():
        return None
    manifest = json.loads(manifest_path.read_text())
    source = Path(manifest["threads_dir"])
    folder = into / "synthetic-test"
    folder.mkdir()
    for thread_id in sorted(manifest["splits"]["test"])[:limit]:
        (folder / thread_id).symlink_to(source / thread_id)
    return folder


def heldout_dir(limit: int, into: Path) -> Path:
    """Links to hand-written held-out threads, alternating languages (hen01, hko01, hmx01, hen02, ...)."""
    names = sorted(p.name for p in HELDOUT.iterdir() if (p / "thread.mbox").is_file())

    def order(name: str) -> tuple[int, str]:
        match = re.match(r"h([a-z]+)(\d+)", name)
        return (int(match.group(2)), match.group(1)) if match else (999, name)

    folder = into / "handwritten"
    folder.mkdir()
    for name in sorted(names, key=order)[:limit]:
        (folder / name).symlink_to(HELDOUT / name)
    return folder


def figures_of(engine: dict[str, Any]) -> dict[str, Any]:
    key_facts = engine.get("key_fact_f1") or {}
    return {
        "key_fact_f1": key_facts.get("f1"),
        "per_field": {name: block.get("f1") for name, block in (key_facts.get("per_field") or {}).items()},
        "by_language": {lang: block.get("f1") for lang, block in (engine.get("by_language") or {}).items()},
        "tag_f1": (engine.get("tag_f1") or {}).get("f1"),
        "semscore": (engine.get("semscore") or {}).get("mean"),
        "seconds_per_thread": engine.get("seconds_per_thread"),
        "fallbacks": engine.get("fallbacks"),
        "errors": engine.get("errors"),
        "threads": engine.get("threads"),
        "model": engine.get("model"),
    }


def run(quick: bool = False) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "the llm extra is not installed: pip install -e '.[llm]'"}
    run_dir = find_run()
    if run_dir is None or not (run_dir / "training_report.json").is_file():
        return {"skipped": "no training run: quoteflow train --recipe services/trainer/recipes/gemma3-270m-cpu.yaml"}
    report = json.loads((run_dir / "training_report.json").read_text())
    if not report.get("stage_snapshots"):
        return {"skipped": f"{run_dir} kept no stage snapshots (recipe export.stage_snapshots: true)"}
    from services.trainer.evaluation.runner import evaluate

    limit = 2 if quick else int(os.environ.get("QUOTEFLOW_BENCH_STAGE_THREADS", "12"))
    rows = models_of(run_dir, report)
    table: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quoteflow-stage-sets-") as scratch:
        sets = {
            "synthetic test": synthetic_test_dir(limit, Path(scratch)),
            "hand-written": heldout_dir(limit, Path(scratch)),
        }
        with stage_registry(run_dir, report, rows):
            for label, adapter_id, _ in rows:
                table[label] = {}
                for set_name, folder in sets.items():
                    if folder is None:
                        continue
                    result = evaluate(
                        folder,
                        ["llm"],
                        workers=1,
                        judge=False,
                        semscore_sample=None,
                        llm_adapter=adapter_id,
                        model_only=True,
                    )
                    table[label][set_name] = figures_of(result.metrics["engines"]["llm"])
    training = training_figures(report)
    write_outputs(run_dir, report, table, training, limit)
    figures: dict[str, Any] = {"run": report["adapter_id"], "threads_per_set": limit}
    for label, by_set in table.items():
        for set_name, values in by_set.items():
            prefix = f"{label} · {set_name}"
            figures[f"{prefix} · key-fact F1"] = values["key_fact_f1"]
            if values["tag_f1"] is not None:
                figures[f"{prefix} · tag F1"] = values["tag_f1"]
                figures[f"{prefix} · SemScore"] = values["semscore"]
            figures[f"{prefix} · s/thread"] = values["seconds_per_thread"]
    for stage in training:
        figures[f"train {stage['stage']} · minutes"] = stage["minutes"]
        figures[f"train {stage['stage']} · tokens/s"] = stage["tokens_per_second"]
        figures[f"train {stage['stage']} · peak RSS GiB"] = stage["peak_rss_gib"]
    figures["eval_wall_s"] = round(time.perf_counter() - started, 1)
    return figures


def training_figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for stage in report.get("stages") or []:
        losses = stage.get("losses") or []
        peak = stage.get("peak_rss_bytes")
        rows.append(
            {
                "stage": stage["name"],
                "examples": stage.get("examples"),
                "skipped": stage.get("skipped"),
                "steps": len(losses),
                "minutes": round(stage.get("seconds", 0) / 60, 1),
                "tokens": stage.get("tokens"),
                "tokens_per_second": stage.get("tokens_per_second"),
                "peak_rss_gib": round(peak / 2**30, 2) if peak else None,
                "first_loss": round(losses[0], 3) if losses else None,
                "last_loss": round(losses[-1], 3) if losses else None,
            }
        )
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def write_outputs(
    run_dir: Path,
    report: dict[str, Any],
    table: dict[str, dict[str, Any]],
    training: list[dict[str, Any]],
    limit: int,
) -> None:
    """The Markdown table, the F1-per-stage plot and the loss curves, in bench/results/."""
    from bench.__main__ import machine

    info = machine()
    lines = [
        "# The talk's table: base model vs each training stage (Gemma 3 270M, CPU)",
        "",
        f"Run {report['adapter_id']} (git {str(_git_hash(report) or '?')[:10]}), measured {info['date']} on "
        f"{info['cpu']}, {info['cores']} cores. Every model answers through the LLM engine on the embedded "
        "llama.cpp server (Q4_K_M base + GGUF LoRA, grammar on); the base model few-shot, adapters zero-shot. "
        f"{limit} threads per set; a thread handed to the rules engine scores as empty facts.",
        "",
        "Reproduce: `quoteflow synth --n 300 --out synthetic && QUOTEFLOW_SYNTHETIC_THREADS_DIR=synthetic "
        "quoteflow train --recipe services/trainer/recipes/gemma3-270m-cpu.yaml && python -m bench train_stages`.",
        "",
    ]
    set_names = list(dict.fromkeys(name for by_set in table.values() for name in by_set))
    languages = sorted({lang for by_set in table.values() for v in by_set.values() for lang in v["by_language"]})
    for set_name in set_names:
        lines += [f"## {set_name} threads", ""]
        header = ["model", "key-fact F1", *[f"F1 {lang}" for lang in languages], "tag F1", "SemScore", "s/thread"]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for label, by_set in table.items():
            values = by_set.get(set_name)
            if values is None:
                continue
            cells = [label, _fmt(values["key_fact_f1"])]
            cells += [_fmt(values["by_language"].get(lang)) for lang in languages]
            cells += [_fmt(values["tag_f1"]), _fmt(values["semscore"]), _fmt(values["seconds_per_thread"])]
            lines.append("| " + " | ".join(cells) + " |")
        fields = sorted({f for v in table.values() if set_name in v for f in v[set_name]["per_field"]})
        lines += ["", f"Key-fact F1 per field ({set_name}):", ""]
        lines += ["| field | " + " | ".join(table) + " |", "|" + " --- |" * (len(table) + 1)]
        for field in fields:
            cells = [_fmt(by_set.get(set_name, {}).get("per_field", {}).get(field)) for by_set in table.values()]
            lines.append(f"| {field} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Training, per stage (2 cores)", ""]
    lines += [
        "| stage | examples (skipped) | steps | minutes | tokens | tokens/s | peak RSS GiB | loss first → last |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage in training:
        lines.append(
            f"| {stage['stage']} | {stage['examples']} ({stage['skipped']}) | {stage['steps']} | {stage['minutes']} "
            f"| {stage['tokens']} | {_fmt(stage['tokens_per_second'])} | {_fmt(stage['peak_rss_gib'])} "
            f"| {_fmt(stage['first_loss'])} → {_fmt(stage['last_loss'])} |"
        )
    gate = report.get("metrics") or {}
    baseline_f1 = (report.get("baseline_metrics") or {}).get("key_fact_f1")
    lines += [
        "",
        f"Gate ({report.get('eval_backend', 'transformers')}, {int(gate.get('heldout_examples', 0))} held-out "
        f"threads): key-fact F1 {_fmt(gate.get('key_fact_f1'))} vs {_fmt(baseline_f1)} "
        f"for the base model; promoted: {report.get('promoted')} ({report.get('reason', '')}).",
        "",
        "![F1 per stage](train_stages.png)",
        "",
        "![loss curves](train_loss.png)",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_stages.md").write_text("\n".join(lines))
    (RESULTS / "train_stages.json").write_text(
        json.dumps({"run": report["adapter_id"], "table": table, "training": training}, indent=2, ensure_ascii=False)
    )
    if (run_dir / "loss.png").is_file():
        shutil.copyfile(run_dir / "loss.png", RESULTS / "train_loss.png")
    plot_stages(table, RESULTS / "train_stages.png")


def plot_stages(table: dict[str, dict[str, Any]], path: Path) -> None:
    """Grouped bars: key-fact F1 per set, tag F1 and SemScore (synthetic), one group per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[float]] = {}
    for by_set in table.values():
        for set_name, values in by_set.items():
            series.setdefault(f"key-fact F1 ({set_name})", []).append(values["key_fact_f1"] or 0.0)
            if values["tag_f1"] is not None:
                series.setdefault(f"tag F1 ({set_name})", []).append(values["tag_f1"] or 0.0)
                series.setdefault(f"SemScore ({set_name})", []).append(values["semscore"] or 0.0)
    labels = list(table)
    width = 0.8 / max(1, len(series))
    figure, axes = plt.subplots(figsize=(10, 4.5))
    for index, (name, values) in enumerate(series.items()):
        positions = [x + index * width for x in range(len(labels))]
        axes.bar(positions, values, width, label=name)
    axes.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels, fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_title("Gemma 3 270M on CPU: base model vs each training stage")
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _git_hash(report: dict[str, Any]) -> str | None:
    """The code version that trained the run (its provenance; older reports kept it at the top)."""
    found = (report.get("provenance") or {}).get("git_hash") or report.get("git_hash")
    return str(found) if found else None
