"""Training recipes: YAML files apart from the code (alignment-handbook style), with command-line overrides.

A recipe names the base model, the LoRA shape (target modules, r, alpha, dropout) and the stages in order;
each stage may override the run-wide optimiser settings (learning rate, epochs, max length, batch size).
Overrides are ``dotted.key=value`` strings, values parsed as YAML: ``lora_r=8``, ``stages.0.max_steps=5``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
DEFAULT_RECIPE = RECIPES_DIR / "gemma2-2b-lora.yaml"
TINY_BASE_MODEL = "builtin:tiny-gemma2"
# The embedded LLM's Gemma 3 270M: the packaged GGUF, read once into an HF copy under QUOTEFLOW_DATA_DIR/models.
PACKAGED_BASE_MODEL = "builtin:gemma3-270m"
BUILTIN_BASE_MODELS = (TINY_BASE_MODEL, PACKAGED_BASE_MODEL)

GEMMA2_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class RecipeError(ValueError):
    """The recipe file or an override is wrong; the message says which key."""


class StageRecipe(BaseModel):
    """One training stage; unset optimiser fields take the recipe's values."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Stage name, shown in progress and the loss curve.")
    kind: Literal["text", "chat"] = Field(description="text: causal LM on raw text; chat: loss on model turns only.")
    datasets: list[str] = Field(min_length=1, description="Datasets mixed in this stage (domain, pit, extraction, …).")
    learning_rate: float | None = Field(default=None, gt=0)
    num_train_epochs: float | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many optimiser steps.")
    max_seq_length: int | None = Field(default=None, ge=16)
    per_device_train_batch_size: int | None = Field(default=None, ge=1)
    overlong: Literal["truncate", "skip"] | None = None


class ExportRecipe(BaseModel):
    """The GGUF LoRA written beside the PEFT adapter when the base model is the packaged GGUF, and its check."""

    model_config = ConfigDict(extra="forbid")

    gguf_check_prompts: int = Field(
        default=3, ge=1, description="Prompts (held-out first) llama.cpp and PEFT must answer alike, greedily."
    )
    gguf_check_max_new_tokens: int = Field(default=24, ge=1, description="Tokens compared per prompt.")
    gguf_check_tie_margin: float = Field(
        default=1.0,
        gt=0,
        description="PEFT's logit lead under which llama.cpp choosing another next token is a near tie, not a "
        "conversion error (Q4_K weights with 8-bit activations against fp32 differ by ~0.5).",
    )
    gguf_check_min_agreement: float = Field(
        default=0.9, gt=0, le=1, description="Share of compared next tokens on which llama.cpp must pick PEFT's."
    )
    stage_snapshots: bool = Field(
        default=False,
        description="Also save the adapter after each stage but the last (stages/<n>-<name>/), for a per-stage table.",
    )


class EvalRecipe(BaseModel):
    """How the gate evaluates an adapter on the held-out split: key facts, and summary and tags."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int = Field(default=200, ge=1, description="Held-out cases scored per task (the first N, stable).")
    max_new_tokens: int = Field(default=512, ge=1, description="Generation budget for one key-facts answer.")
    summary_max_new_tokens: int = Field(
        default=320, ge=1, description="Generation budget for one summary-and-tags answer (serving's cap)."
    )
    batch_size: int = Field(default=8, ge=1, description="Prompts per transformers generate() call.")
    backend: Literal["auto", "llama_cpp", "transformers"] = Field(
        default="auto",
        description="Who generates the gate's answers: llama.cpp with the checked GGUF LoRA (what serves, ~25x "
        "faster on a CPU), or transformers + PEFT. auto: llama.cpp when the adapter has a checked GGUF.",
    )
    min_json_valid_rate: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="An adapter whose key-facts or summary answers parse as their JSON less often than this on the "
        "held-out split is refused (serving constrains JSON by grammar; the model must not rely on it).",
    )
    grammar: bool = Field(
        default=True,
        description="llama.cpp answers under each task's schema grammar, as the embedded server writes them "
        "(transformers answers are unconstrained).",
    )
    semantic_model: bool = Field(
        default=True, description="SemScore and tag F1 with the packaged MiniLM (false: character n-grams only)."
    )


class Recipe(BaseModel):
    """A whole training run."""

    model_config = ConfigDict(extra="forbid")

    model_name_or_path: str = Field(
        description=f"Base model folder or hub id; {TINY_BASE_MODEL} builds a tiny one, "
        f"{PACKAGED_BASE_MODEL} is the embedded LLM's packaged Gemma 3 270M."
    )
    torch_dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = "eager"
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    lora_target_modules: list[str] = Field(default_factory=lambda: list(GEMMA2_TARGET_MODULES), min_length=1)
    learning_rate: float = Field(default=2e-4, gt=0)
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="Cap on steps per stage (all stages).")
    max_seq_length: int = Field(default=2048, ge=16)
    overlong: Literal["truncate", "skip"] = Field(
        default="truncate",
        description="A chat example longer than max_seq_length: truncate (its end, maybe part of the answer, is "
        "cut) or skip it (only whole answers are trained). Text is packed into blocks either way.",
    )
    per_device_train_batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    gradient_checkpointing: bool = False
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    seed: int = 42
    answer_only_logits: bool = Field(
        default=True,
        description="Apply the vocabulary head only at positions whose next token is trained (same loss, "
        "much less time and memory with Gemma's 262k vocabulary; bench/bench_train_step.py).",
    )
    cpu_threads: int | None = Field(
        default=None,
        ge=1,
        description="Torch threads when training on CPU (unset: the cores this process may use). 1 avoids "
        "oversubscribed spin-waiting on a small machine that also runs the broker and other services.",
    )
    heldout_percent: float = Field(default=10.0, ge=0, le=100, description="Share of corrections held out, in %.")
    eval: EvalRecipe = Field(default_factory=EvalRecipe)
    export: ExportRecipe = Field(default_factory=ExportRecipe)
    stages: list[StageRecipe] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_stage_names(self) -> Recipe:
        names = [stage.name for stage in self.stages]
        if len(names) != len(set(names)):
            raise ValueError(f"stage names must be unique: {names}")
        return self

    def stage_value(self, stage: StageRecipe, name: str) -> Any:
        """A stage's own value, else the recipe's."""
        value = getattr(stage, name)
        return getattr(self, name) if value is None else value

    def stage_max_steps(self, stage: StageRecipe) -> int | None:
        """The recipe's max_steps caps every stage (``--max-steps``), also one with a budget of its own."""
        caps = [steps for steps in (stage.max_steps, self.max_steps) if steps is not None]
        return min(caps) if caps else None


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    target: Any = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise RecipeError(f"override {dotted!r}: no list index {part!r}")
            target = target[int(part)]
        elif isinstance(target, dict):
            target = target.setdefault(part, {})
        else:
            raise RecipeError(f"override {dotted!r}: {part!r} is not a section")
    last = parts[-1]
    if isinstance(target, list):
        if not last.isdigit() or int(last) >= len(target):
            raise RecipeError(f"override {dotted!r}: no list index {last!r}")
        target[int(last)] = value
    elif isinstance(target, dict):
        target[last] = value
    else:
        raise RecipeError(f"override {dotted!r}: cannot set inside a value")


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML (numbers, booleans, lists)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"override {text!r} is not key=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RecipeError(f"override {text!r}: value is not valid YAML") from exc
    return key.strip(), value


def load_recipe(
    path: Path | None = None, *, overrides: list[str] | None = None, base_model: str | None = None
) -> Recipe:
    """Read a recipe, apply overrides (then --base-model) and validate it."""
    path = path or DEFAULT_RECIPE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RecipeError(f"recipe not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path} must be a mapping of settings")
    for override in overrides or []:
        _set_dotted(data, *parse_override(override))
    if base_model:
        data["model_name_or_path"] = base_model
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "recipe"
        raise RecipeError(f"recipe {path.name}: {where}: {first['msg']} ({exc.error_count()} error(s))") from exc
