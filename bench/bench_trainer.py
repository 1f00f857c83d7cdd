"""Trainer cost on CPU with the tiny random Gemma 2: time per optimiser step of each stage, the whole run
(base model build, three stages, save, evaluation of new and baseline), held-out generation latency, and
whether each stage's loss went down. Figures for the real model come from a GPU host, not from here."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

STAGES = ("domain_adaptation", "pre_instruction_tuning", "task_tuning")


def run(quick: bool = False) -> dict[str, float | str]:
    """One `quoteflow train`-equivalent run of the tiny-cpu recipe on generated corrections."""
    from rich.console import Console

    from services.trainer.corrections import CorrectionStore
    from services.trainer.scheduler import train_blocking
    from services.trainer.settings import TrainerSettings
    from services.trainer.training.recipe import RECIPES_DIR, load_recipe
    from shared.store import MemoryStore
    from tests.services.trainer.corpus import make_correction

    steps = 4 if quick else 16
    corrections = 12 if quick else 40
    recipe = load_recipe(RECIPES_DIR / "tiny-cpu.yaml", overrides=[f"max_steps={steps}"])
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        root = Path(tmp)
        settings = TrainerSettings().model_copy(
            update={
                "dataset_dir": root / "dataset",
                "adapters_dir": root / "adapters",
                "trainer_cache_dir": root / "cache",
            }
        )

        async def seed() -> None:
            store = CorrectionStore(settings.dataset_dir, MemoryStore())
            for index in range(corrections):
                thread, correction = make_correction(index)
                await store.add(correction, thread)

        asyncio.run(seed())
        started = time.perf_counter()
        report = train_blocking(settings, recipe, Console(quiet=True))
        total_s = time.perf_counter() - started
        adapter = Path(report.event.path)
        timings = _stage_timings(adapter)
        figures: dict[str, float | str] = {
            "recipe": "tiny-cpu",
            "steps_per_stage": float(steps),
            "corrections": float(corrections),
            "dataset_size": float(report.event.dataset_size),
            "heldout_threads": report.event.metrics.get("heldout_examples", 0.0),
            "run_total_s": round(total_s, 2),
            "adapter_bytes": float((adapter / "adapter_model.safetensors").stat().st_size),
            "promoted": str(report.event.promoted),
        }
        for stage in STAGES:
            losses = report.losses.get(stage, [])
            if losses:
                figures[f"{stage}_loss_first"] = round(losses[0], 4)
                figures[f"{stage}_loss_last"] = round(losses[-1], 4)
                figures[f"{stage}_loss_down"] = str(sum(losses[-2:]) < sum(losses[:2]))
        figures.update(timings)
        return figures


def _stage_timings(adapter: Path) -> dict[str, float | str]:
    """Seconds per step from the Trainer's own runtime, recorded in training_report.json when present."""
    import json

    report_path = adapter / "training_report.json"
    if not report_path.exists():
        return {}
    data = json.loads(report_path.read_text())
    figures: dict[str, float | str] = {}
    for stage in data.get("stages", []):
        seconds = stage.get("seconds")
        steps = len(stage.get("losses", []))
        if seconds and steps:
            figures[f"{stage['name']}_s_per_step"] = round(seconds / steps, 4)
    if "eval_seconds" in data and data.get("heldout_examples"):
        figures["eval_s_per_thread"] = round(data["eval_seconds"] / data["heldout_examples"], 4)
    return figures


if __name__ == "__main__":
    print(run(quick=True))
