"""Progress and loss curves of a run: a rich progress bar per stage and a PNG of the losses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@dataclass
class StageLoss:
    """Training loss of one stage, step by step."""

    name: str
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    examples: int = 0  # encoded examples (text: packed blocks) the stage trained on
    skipped: int = 0  # chat examples left out: too long (recipe overlong: skip) or nothing to learn after a cut
    tokens: int = 0  # tokens trained on (unpadded, every pass), for tokens/s
    peak_rss_bytes: int | None = None  # the process's peak resident memory during this stage (Linux)

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 and self.tokens else None

    @property
    def first(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def last(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    def head_tail_means(self, window: int = 2) -> tuple[float, float]:
        """Mean of the first and last ``window`` losses: a steadier 'did it go down' than two single steps."""
        if not self.losses:
            return float("nan"), float("nan")
        window = max(1, min(window, len(self.losses) // 2 or 1))
        return sum(self.losses[:window]) / window, sum(self.losses[-window:]) / window

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "steps": self.steps,
            "losses": self.losses,
            "seconds": round(self.seconds, 3),
            "examples": self.examples,
            "skipped": self.skipped,
            "tokens": self.tokens,
            "tokens_per_second": round(self.tokens_per_second, 2) if self.tokens_per_second else None,
            "peak_rss_bytes": self.peak_rss_bytes,
        }


def stage_progress(console: Console | None = None) -> Progress:
    """The bar shown while a stage trains (loss in the description)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )


def make_progress_callback(progress: Progress, description: str, history: StageLoss) -> Any:
    """A transformers TrainerCallback that advances the bar and records the loss of every logged step."""
    from transformers import TrainerCallback

    class _Callback(TrainerCallback):  # type: ignore[misc]
        task_id: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.task_id = progress.add_task(description, total=state.max_steps, loss="…")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress.update(self.task_id, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                history.steps.append(int(state.global_step))
                history.losses.append(float(logs["loss"]))
                progress.update(self.task_id, loss=f"{logs['loss']:.4f}")

    return _Callback()


def plot_loss_curves(stages: list[StageLoss], path: Path, title: str) -> Path:
    """One PNG with each stage's loss against the run's cumulative step, stages side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    offset = 0
    for stage in stages:
        if not stage.losses:
            continue
        steps = [offset + step for step in stage.steps]
        axes.plot(steps, stage.losses, marker="o", markersize=2.5, linewidth=1.4, label=stage.name)
        offset = steps[-1]
        axes.axvline(offset, color="0.85", linewidth=0.8)
    axes.set_xlabel("optimiser step (all stages)")
    axes.set_ylabel("training loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
