"""One training run, start to finish, without a broker: train every stage, save the adapter, evaluate, decide.

The caller (the scheduler, or ``quoteflow train``) holds the run lock, records the result in the registry
and publishes it; this module only needs files.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from services.trainer.training.chat import render_chat
from services.trainer.training.data import TrainingData
from services.trainer.training.evaluate import (
    Answerer,
    GateDecision,
    LlamaCppAnswerer,
    TransformersAnswerer,
    decide,
    evaluate_answerer,
)
from services.trainer.training.progress import StageLoss, plot_loss_curves, stage_progress
from services.trainer.training.recipe import Recipe
from shared.embedded_llm import usable_cores
from shared.events import AdapterEvent

if TYPE_CHECKING:
    from services.trainer.evaluation.semantic import Similarity

logger = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class RunOutcome:
    """What a run produced: the adapter folder, its metrics against the one in service, and the verdict."""

    adapter_id: str
    adapter_path: Path
    base_model: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    decision: GateDecision
    dataset_size: int
    losses: list[StageLoss] = field(default_factory=list)
    loss_curve: Path | None = None
    formats: dict[str, Any] = field(default_factory=dict)  # the adapter's files per format, and the GGUF check

    def to_event(self, recipe: Recipe, previous: AdapterEvent | None, git_hash: str | None) -> AdapterEvent:
        return AdapterEvent(
            adapter_id=self.adapter_id,
            base_model=self.base_model,
            path=str(self.adapter_path),
            promoted=self.decision.promote,
            previous_adapter_id=previous.adapter_id if previous else None,
            metrics=self.metrics,
            baseline_metrics=self.baseline_metrics,
            dataset_size=self.dataset_size,
            recipe=recipe.model_dump(mode="json"),
            git_hash=git_hash,
            reason=self.decision.reason,
        )


def new_adapter_id(now: datetime | None = None) -> str:
    """Sortable and unique: qf-20250101-120000-a1b2."""
    return f"qf-{(now or datetime.now(UTC)).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def run_provenance(
    recipe: Recipe, data: TrainingData, synthetic_threads: Path | None, code_version: str | None
) -> dict[str, Any]:
    """What a run was made of: code version, the resolved recipe, the seed and where the data came from."""
    threads = sorted(p.name for p in synthetic_threads.iterdir() if p.is_dir()) if synthetic_threads else []
    return {
        "git_hash": code_version,
        "seed": recipe.seed,
        "recipe": recipe.model_dump(mode="json"),
        "data": {
            "synthetic_threads": len(threads),
            "synthetic_threads_dir": str(synthetic_threads) if synthetic_threads else None,
            "synthetic_first_last": [threads[0], threads[-1]] if threads else [],
            "corrections": data.corrections_used,
            "examples": data.counts(),
            "heldout_threads": len(data.heldout),
            "heldout_summaries": len(data.heldout_summaries),
        },
        "reproduce": "quoteflow synth --n N --seed 0 --out DIR && QUOTEFLOW_SYNTHETIC_THREADS_DIR=DIR "
        "quoteflow train --recipe <recipe file>",
    }


def git_hash(repo: Path | None = None) -> str | None:
    """The code version that trains, when the code runs from a git checkout."""
    where = repo or Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _same_base(recorded: str | None, base_path: str) -> bool:
    """Whether an adapter trained on ``recorded`` fits ``base_path``: the same folder, or both the HF copy of the
    packaged GGUF (a shipped adapter names the copy where it was trained, on another machine)."""
    from services.trainer.training.packaged import HF_COPY_DIR, is_packaged_copy

    if recorded is None:
        return False
    return recorded == base_path or (
        Path(recorded).name == HF_COPY_DIR == Path(base_path).name and is_packaged_copy(base_path)
    )


def _adapter_base(path: Path) -> str | None:
    try:
        config: dict[str, Any] = json.loads((path / "adapter_config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    base = config.get("base_model_name_or_path")
    return str(base) if base else None


def train_and_evaluate(
    *,
    recipe: Recipe,
    data: TrainingData,
    adapters_dir: Path,
    cache_dir: Path,
    in_service: AdapterEvent | None,
    margin: float,
    adapter_id: str | None = None,
    console: Console | None = None,
    data_dir: Path | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Train all stages into one LoRA adapter, save it in TGI's format (and as GGUF LoRA when the base model is
    the packaged GGUF), score it and the one in service. ``provenance`` (code, recipe, data) goes into the
    report as it is, so a shipped adapter says how to make it again."""
    from services.trainer.training.model import load_base, resolve_base_model
    from services.trainer.training.stages import train_stage, wrap_with_lora

    console = console or Console(stderr=True)
    adapter_id = adapter_id or new_adapter_id()
    final_dir = adapter_dir_for(adapters_dir, adapter_id).resolve()
    if final_dir.exists():
        raise FileExistsError(f"adapter folder {final_dir} exists already")
    work_dir = cache_dir / "runs" / adapter_id
    quiet_libraries()
    if recipe.cpu_threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # no idle Rust worker threads spinning beside torch
    base_path = resolve_base_model(recipe, cache_dir / "base-models", data.texts(), data_dir)
    console.print(
        f"[bold]training[/] {adapter_id} on {base_path}: {data.counts()} examples, {len(data.heldout)} held out"
    )

    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(recipe.cpu_threads or usable_cores())
    torch.manual_seed(recipe.seed)
    base, tokenizer = load_base(base_path, recipe)
    model = wrap_with_lora(base, recipe)
    losses: list[StageLoss] = []
    staging = final_dir.parent / f".partial-{adapter_id}"
    shutil.rmtree(staging, ignore_errors=True)
    stage_snapshots: list[dict[str, Any]] = []
    with stage_progress(console) as progress:
        for number, stage in enumerate(recipe.stages, start=1):
            losses.append(train_stage(model, tokenizer, recipe, stage, data, work_dir, progress))
            if recipe.export.stage_snapshots and number < len(recipe.stages):
                stage_snapshots.append(save_stage_snapshot(model, staging, final_dir, number, stage.name))

    model.save_pretrained(str(staging), safe_serialization=True)
    curve = plot_loss_curves(losses, staging / "loss.png", f"{adapter_id}: training loss per stage")
    verdict = export_and_gate(
        model, tokenizer, recipe, data, staging, final_dir, base_path, in_service, margin, console
    )
    report = {
        "adapter_id": adapter_id,
        "base_model": base_path,
        "datasets": data.counts(),
        "heldout_examples": verdict.heldout_examples,
        "stages": [s.to_dict() for s in losses],
        **verdict.report_fields(),
        "stage_snapshots": stage_snapshots,
        "promoted": verdict.decision.promote,
        "reason": verdict.decision.reason,
        "provenance": dict(provenance or {}),
    }
    (staging / "training_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    staging.rename(final_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    return RunOutcome(
        adapter_id=adapter_id,
        adapter_path=final_dir,
        base_model=base_path,
        metrics=verdict.metrics,
        baseline_metrics=verdict.baseline_metrics,
        decision=verdict.decision,
        dataset_size=data.size,
        losses=losses,
        loss_curve=final_dir / curve.name,
        formats=verdict.formats,
    )


def regate_adapter(
    *,
    adapter_dir: Path,
    recipe: Recipe,
    data: TrainingData,
    in_service: AdapterEvent | None,
    margin: float,
    console: Console | None = None,
) -> RunOutcome:
    """Export, check and gate an adapter trained before, again, without training it again.

    For a check or gate that changed (or a newer llama.cpp) since the run: the PEFT weights are loaded onto
    the run's base model, the GGUF LoRA is written and checked afresh and the gate scores it against what
    serves now on the same held-out data. The training report keeps the run's stages and gets the new
    verdict, with the previous one under ``regated``.
    """
    from peft import PeftModel

    from services.trainer.training.model import load_base

    console = console or Console(stderr=True)
    report_path = adapter_dir / "training_report.json"
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    base_path = str(report["base_model"])
    quiet_libraries()
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(recipe.cpu_threads or usable_cores())
    base, tokenizer = load_base(base_path, recipe)
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    (adapter_dir / "adapter.rejected.gguf").unlink(missing_ok=True)
    verdict = export_and_gate(
        model, tokenizer, recipe, data, adapter_dir, adapter_dir, base_path, in_service, margin, console
    )
    previous = {key: report.get(key) for key in ("promoted", "reason", "metrics", "baseline_metrics", "eval_backend")}
    previous["gguf"] = (report.get("formats") or {}).get("gguf")
    report.update(verdict.report_fields())
    report.update(
        {
            "heldout_examples": verdict.heldout_examples,
            "promoted": verdict.decision.promote,
            "reason": verdict.decision.reason,
            "regated": {"at": datetime.now(UTC).isoformat(), "git_hash": git_hash(), "previous": previous},
        }
    )
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return RunOutcome(
        adapter_id=str(report["adapter_id"]),
        adapter_path=adapter_dir,
        base_model=base_path,
        metrics=verdict.metrics,
        baseline_metrics=verdict.baseline_metrics,
        decision=verdict.decision,
        dataset_size=data.size,
        loss_curve=adapter_dir / "loss.png",
        formats=verdict.formats,
    )


@dataclass
class GateVerdict:
    """The adapter's exported formats, its held-out metrics against what serves, and whether it may serve."""

    formats: dict[str, Any]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    decision: GateDecision
    heldout_examples: int
    eval_seconds: float
    eval_backend: str
    similarity: str | None

    def report_fields(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "baseline_metrics": self.baseline_metrics,
            "eval_seconds": round(self.eval_seconds, 3),
            "eval_backend": self.eval_backend,
            "similarity": self.similarity,
            "formats": self.formats,
        }


def export_and_gate(
    model: Any,
    tokenizer: Any,
    recipe: Recipe,
    data: TrainingData,
    staging: Path,
    final_dir: Path,
    base_path: str,
    in_service: AdapterEvent | None,
    margin: float,
    console: Console,
) -> GateVerdict:
    """The trained adapter in ``staging`` written in both formats, checked, and scored by the gate."""
    formats = export_formats(model, tokenizer, recipe, staging, final_dir, base_path, check_prompts(data, recipe))
    gguf = formats["gguf"]
    if gguf.get("check"):
        check = gguf["check"]
        console.print(
            f"GGUF LoRA: {gguf.get('bytes', 0) / 1e6:.1f} MB in {gguf.get('seconds', 0):.1f} s; llama.cpp vs PEFT "
            f"next tokens on {check['samples']} prompt(s): {check['agreement']:.0%} alike"
            f"{'' if check['passed'] else ', DIFFERENT'}"
        )

    cases = data.heldout[: recipe.eval.max_examples]
    summary_cases = data.heldout_summaries[: recipe.eval.max_examples]
    gate = GateSetup.choose(model, tokenizer, recipe, staging, formats, base_path)
    console.print(
        f"evaluating on {len(cases)} held-out thread(s) and {len(summary_cases)} summary case(s) with {gate.backend}"
    )
    similarity = gate_similarity(recipe) if summary_cases else None

    def score(answerer: Answerer) -> dict[str, float]:
        return evaluate_answerer(answerer, cases, summary_cases, recipe.eval, similarity)

    eval_started = time.perf_counter()
    metrics = score(gate.new_adapter())
    eval_seconds = time.perf_counter() - eval_started
    baseline_metrics, baseline_label = gate.baseline(in_service, score) if cases else ({}, "no held-out cases")
    if not cases:
        decision = GateDecision(False, "no held-out examples: the adapter cannot be evaluated, so it is not promoted")
    else:
        decision = decide(metrics, baseline_metrics or None, margin, recipe.eval.min_json_valid_rate)
        decision = GateDecision(decision.promote, f"{decision.reason} [{baseline_label}]")
    if gguf.get("required") and not gguf.get("exported"):
        decision = GateDecision(False, f"not promoted: no checked GGUF LoRA for the embedded LLM ({gguf['reason']})")

    return GateVerdict(
        formats=formats,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        decision=decision,
        heldout_examples=len(cases),
        eval_seconds=eval_seconds,
        eval_backend=gate.backend,
        similarity=similarity.description if similarity is not None else None,
    )


def save_stage_snapshot(model: Any, staging: Path, final_dir: Path, number: int, name: str) -> dict[str, Any]:
    """The adapter as it stands after one stage (PEFT, and GGUF LoRA when it maps), in ``stages/<n>-<name>/``.

    The talk's table compares the model after each stage; these snapshots let the evaluation score every
    stage on llama.cpp afterwards without training again. They are not checked like the final adapter and
    never serve: the registry names only the run's folder.
    """
    from services.trainer.training.gguf_lora import GgufExportError, export_gguf_lora

    folder = f"{number}-{name}"
    where = staging / "stages" / folder
    model.save_pretrained(str(where), safe_serialization=True)
    snapshot: dict[str, Any] = {"stage": name, "path": str(final_dir / "stages" / folder), "gguf": False}
    try:
        export_gguf_lora(where, model.config.model_type, int(model.config.num_hidden_layers))
        snapshot["gguf"] = True
    except GgufExportError as exc:
        snapshot["reason"] = str(exc)
    return snapshot


def check_prompts(data: TrainingData, recipe: Recipe) -> list[str]:
    """Prompts for the GGUF check: held-out extraction prompts first, then training conversations' first turn."""
    prompts = [render_chat(list(case.prompt), add_generation_prompt=True).text for case in data.heldout]  # type: ignore[arg-type]
    for examples in data.train.values():
        for example in examples:
            if example.messages and example.messages[0]["role"] == "user":
                prompts.append(render_chat([example.messages[0]], add_generation_prompt=True).text)  # type: ignore[list-item]
    return prompts[: recipe.export.gguf_check_prompts]


def export_formats(
    model: Any,
    tokenizer: Any,
    recipe: Recipe,
    staging: Path,
    final_dir: Path,
    base_path: str,
    prompts: list[str],
) -> dict[str, Any]:
    """The adapter's formats for the registry: PEFT (always), GGUF LoRA when the base model is the packaged GGUF.

    The GGUF file is kept only when llama.cpp (base GGUF + adapter) picks PEFT's next token along PEFT's greedy
    answers to the check prompts, near ties aside (:func:`~services.trainer.training.gguf_lora.check_gguf_lora`);
    otherwise it is renamed ``adapter.rejected.gguf`` (extract never loads it)
    and ``required`` without ``exported`` keeps the adapter from being promoted.
    """
    from services.trainer.training.gguf_lora import ADAPTER_GGUF, GgufExportError, check_gguf_lora, export_gguf_lora
    from services.trainer.training.packaged import base_gguf_for

    weights = staging / "adapter_model.safetensors"
    formats: dict[str, Any] = {
        "peft": {
            "path": str(final_dir / "adapter_model.safetensors"),
            "config": str(final_dir / "adapter_config.json"),
            "bytes": weights.stat().st_size,
        }
    }
    base_gguf = base_gguf_for(base_path)
    if base_gguf is None:
        formats["gguf"] = {"required": False, "exported": False, "reason": "the base model has no GGUF"}
        return formats
    gguf: dict[str, Any] = {"required": True, "exported": False, "base_gguf": str(base_gguf)}
    formats["gguf"] = gguf
    config = model.config
    try:
        export = export_gguf_lora(staging, config.model_type, int(config.num_hidden_layers))
    except GgufExportError as exc:
        gguf["reason"] = str(exc)
        return formats
    gguf.update({"bytes": export.bytes, "tensors": export.tensors, "seconds": round(export.seconds, 3)})
    try:
        check = check_gguf_lora(
            model,
            tokenizer,
            base_gguf,
            export.path,
            prompts,
            recipe.export.gguf_check_max_new_tokens,
            threads=recipe.cpu_threads or usable_cores(),
            tie_margin=recipe.export.gguf_check_tie_margin,
            min_agreement=recipe.export.gguf_check_min_agreement,
        )
    except (ImportError, RuntimeError, ValueError) as exc:  # llama-cpp-python missing, or it refused the file
        export.path.rename(staging / "adapter.rejected.gguf")
        gguf["reason"] = f"llama.cpp could not check it: {type(exc).__name__}: {exc}"
        return formats
    gguf["check"] = check.to_dict()
    if check.passed:
        gguf.update({"exported": True, "path": str(final_dir / ADAPTER_GGUF), "reason": "llama.cpp answers like PEFT"})
    else:
        export.path.rename(staging / "adapter.rejected.gguf")
        wide = sum(1 for d in check.disagreements if d["peft_lead"] >= check.tie_margin)
        gguf["reason"] = (
            f"llama.cpp answers differently from PEFT: {len(check.disagreements)} of {check.positions} next tokens "
            f"differ ({wide} beyond a near tie of {check.tie_margin} logits)"
        )
    return formats


def quiet_libraries() -> None:
    """Our progress bars and logs only: no transformers loading bars, no known-harmless warnings."""
    import warnings

    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*", category=UserWarning)


def adapter_dir_for(adapters_dir: Path, adapter_id: str) -> Path:
    """``<adapters_dir>/<adapter_id>``; the id must be a plain folder name."""
    if not adapter_id or "/" in adapter_id or adapter_id.startswith("."):
        raise ValueError(f"invalid adapter id {adapter_id!r}")
    return adapters_dir / adapter_id


def gate_similarity(recipe: Recipe) -> Similarity:
    """The similarity behind the gate's tag F1 and SemScore (the packaged MiniLM, or character n-grams)."""
    from services.trainer.evaluation.semantic import Similarity

    return Similarity(use_model=recipe.eval.semantic_model)


@dataclass
class GateSetup:
    """Who answers the gate's prompts: llama.cpp with the checked GGUF LoRA, or transformers + PEFT."""

    model: Any
    tokenizer: Any
    recipe: Recipe
    base_path: str
    base_gguf: Path | None = None
    adapter_gguf: Path | None = None

    @property
    def backend(self) -> str:
        return "llama.cpp" if self.adapter_gguf is not None else "transformers"

    @classmethod
    def choose(
        cls, model: Any, tokenizer: Any, recipe: Recipe, staging: Path, formats: dict[str, Any], base_path: str
    ) -> GateSetup:
        """llama.cpp when the recipe allows it and the GGUF LoRA passed its check; transformers otherwise."""
        from services.trainer.training.gguf_lora import ADAPTER_GGUF

        gguf = formats.get("gguf") or {}
        setup = cls(model, tokenizer, recipe, base_path)
        if recipe.eval.backend != "transformers" and gguf.get("exported"):
            setup.base_gguf, setup.adapter_gguf = Path(gguf["base_gguf"]), staging / ADAPTER_GGUF
        return setup

    def _llama(self, adapter: Path | None) -> Answerer:
        assert self.base_gguf is not None
        threads = self.recipe.cpu_threads or usable_cores()
        return LlamaCppAnswerer(
            self.base_gguf, adapter, self.tokenizer, threads=threads, grammar=self.recipe.eval.grammar
        )

    def _transformers(self) -> Answerer:
        return TransformersAnswerer(self.model, self.tokenizer, self.recipe.eval.batch_size)

    def new_adapter(self) -> Answerer:
        return self._llama(self.adapter_gguf) if self.adapter_gguf else self._transformers()

    def baseline(
        self, in_service: AdapterEvent | None, score: Callable[[Answerer], dict[str, float]]
    ) -> tuple[dict[str, float], str]:
        """Metrics of what serves now on the same cases: the promoted adapter, or the bare base model."""
        from services.trainer.training.gguf_lora import ADAPTER_GGUF

        llama = self.adapter_gguf is not None
        if in_service is None:
            if llama:
                return score(self._llama(None)), "baseline: base model without adapter"
            with self.model.disable_adapter():
                return score(self._transformers()), "baseline: base model without adapter"
        service_path = Path(in_service.path)
        same_base = (service_path / "adapter_config.json").exists() and _same_base(
            _adapter_base(service_path), self.base_path
        )
        if same_base and llama and (service_path / ADAPTER_GGUF).is_file():
            return score(self._llama(service_path / ADAPTER_GGUF)), f"baseline: {in_service.adapter_id} re-evaluated"
        if same_base:
            self.model.load_adapter(str(service_path), adapter_name="in_service")
            self.model.set_adapter("in_service")
            try:
                return score(self._transformers()), f"baseline: {in_service.adapter_id} re-evaluated"
            finally:
                self.model.set_adapter("default")
                self.model.delete_adapter("in_service")
        logger.warning(
            "adapter in service %s cannot be re-evaluated here; using its recorded metrics", in_service.adapter_id
        )
        return dict(in_service.metrics), f"baseline: {in_service.adapter_id} recorded metrics (different base model)"
