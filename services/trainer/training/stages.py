"""The training stages: one LoRA adapter trained through every stage in order, with transformers' Trainer.

One adapter carries all stages (domain adaptation → pre-instruction tuning → task tuning), because the
inference server applies one adapter to the unchanged base model; merging a stage into the base would
make the final adapter useless to TGI.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import Progress

from services.trainer.training.collate import EncodedExample, PaddingCollator, encode_stage
from services.trainer.training.data import Example, TrainingData
from services.trainer.training.progress import StageLoss, make_progress_callback
from services.trainer.training.recipe import Recipe, StageRecipe

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class NothingToTrainError(ValueError):
    """A stage has no usable examples (every dataset it names is empty)."""


def wrap_with_lora(model: PreTrainedModel, recipe: Recipe) -> Any:
    """The base model with a fresh LoRA adapter named 'default' (base weights frozen)."""
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.lora_target_modules),
        bias="none",
    )
    if recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    return get_peft_model(model, config)


def stage_examples(data: TrainingData, stage: StageRecipe, seed: int) -> list[Example]:
    """The stage's datasets mixed and shuffled (deterministically)."""
    examples = [example for name in stage.datasets for example in data.train.get(name, [])]
    random.Random(f"{seed}:{stage.name}").shuffle(examples)
    return examples


class _EncodedDataset:
    """A map-style dataset over encoded examples, in the dict form Trainer expects."""

    def __init__(self, items: Sequence[EncodedExample]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        item = self.items[index]
        return {"input_ids": item.input_ids, "labels": item.labels}


def train_stage(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    recipe: Recipe,
    stage: StageRecipe,
    data: TrainingData,
    work_dir: Path,
    progress: Progress,
) -> StageLoss:
    """Train the adapter on one stage; returns its loss history."""
    from transformers import PrinterCallback, Trainer, TrainingArguments

    examples = stage_examples(data, stage, recipe.seed)
    max_length = int(recipe.stage_value(stage, "max_seq_length"))
    skip = recipe.stage_value(stage, "overlong") == "skip"
    encoded = encode_stage(tokenizer, examples, stage.kind, max_length, skip_overlong=skip)
    if not encoded:
        raise NothingToTrainError(
            f"stage {stage.name}: no examples in {', '.join(stage.datasets)}"
            + (f" that fit in {max_length} tokens" if skip and examples else "")
        )
    max_steps = recipe.stage_max_steps(stage)
    args = TrainingArguments(
        output_dir=str(work_dir / stage.name),
        learning_rate=float(recipe.stage_value(stage, "learning_rate")),
        num_train_epochs=float(recipe.stage_value(stage, "num_train_epochs")),
        max_steps=int(max_steps) if max_steps else -1,
        per_device_train_batch_size=int(recipe.stage_value(stage, "per_device_train_batch_size")),
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the steps
        lr_scheduler_type=recipe.lr_scheduler_type,
        weight_decay=recipe.weight_decay,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=recipe.seed,
        data_seed=recipe.seed,
        bf16=recipe.torch_dtype == "bfloat16" and _has_cuda(),
        fp16=recipe.torch_dtype == "float16" and _has_cuda(),
        dataloader_num_workers=0,
        dataloader_pin_memory=_has_cuda(),
    )
    history = StageLoss(stage.name, examples=len(encoded))
    if stage.kind == "chat":  # one item per example, or none (overlong and skipped, or no answer left)
        history.skipped = len(examples) - len(encoded)
    trainer_class = Trainer
    if recipe.answer_only_logits:
        from services.trainer.training.answer_loss import AnswerOnlyTrainer

        trainer_class = AnswerOnlyTrainer
    collator = PaddingCollator(int(tokenizer.pad_token_id))
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=_EncodedDataset(encoded),
        data_collator=collator,
        callbacks=[make_progress_callback(progress, f"{stage.name} ({len(encoded)} ex.)", history)],
    )
    trainer.remove_callback(PrinterCallback)  # progress is ours; no log dicts on stdout
    reset_peak_rss()
    started = time.perf_counter()
    trainer.train()
    history.seconds = time.perf_counter() - started
    history.tokens = collator.tokens
    history.peak_rss_bytes = peak_rss_bytes()
    return history


def reset_peak_rss() -> None:
    """Start a new peak-memory window for this process (Linux: ``5`` in clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_bytes() -> int | None:
    """The process's peak resident memory since the last :func:`reset_peak_rss` (VmHWM), or None off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())
