"""One LoRA training step on the REAL packaged Gemma 3 270M on CPU: logits on every token vs on the answer only.

Each (mode, length) is measured in a fresh child process, so its peak RSS is its own: the model (fp32, from the
HF copy in ``QUOTEFLOW_DATA_DIR/models/``, built from the packaged GGUF on first use), LoRA r=8 on q/k/v/o,
batch of one chat example whose user turn has ``tokens - answer`` tokens and whose model turn (the only
labelled part, as in task tuning) has ``answer`` tokens. Timed: forward, backward and AdamW step, after one
warm-up step; torch threads = usable cores (``BENCH_TORCH_THREADS`` overrides: on a machine other processes
keep busy, 1 thread avoids OpenMP threads waiting on each other for a core and gives steadier ratios).

- ``full``: ``model(**batch).loss`` — the head projects every position onto the 262k vocabulary;
- ``answer_only``: :func:`services.trainer.training.answer_loss.answer_only_loss` — body on every position,
  head on the labelled ones.

``python -m bench train_step`` (``--quick``: 512 tokens, 2 timed steps) or
``python -m bench.bench_train_step`` for a quick run printed to the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ANSWER_TOKENS = 230  # median model turn of a synthetic extraction example (Gemma 3 tokenizer)
LENGTHS = (512, 1024)  # 1024: the median whole extraction example


def _measure(mode: str, tokens: int, answer: int, steps: int, data_dir: str) -> dict[str, float]:
    """In the child: time ``steps`` optimiser steps after a warm-up; peak RSS of this process."""
    import resource
    import time

    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    from services.trainer.training.answer_loss import answer_only_loss
    from services.trainer.training.packaged import ensure_hf_copy
    from shared.embedded_llm import usable_cores

    torch.set_num_threads(_threads(usable_cores()))
    torch.manual_seed(0)
    path = ensure_hf_copy(Path(data_dir))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, attn_implementation="eager")
    model = get_peft_model(
        model,
        LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=8,
            lora_alpha=16,
            lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        ),
    )
    model.train()
    vocab = int(model.config.vocab_size)
    input_ids = torch.randint(1000, vocab - 1000, (1, tokens), generator=torch.Generator().manual_seed(1))
    labels = torch.full_like(input_ids, -100)
    labels[:, tokens - answer :] = input_ids[:, tokens - answer :]
    attention = torch.ones_like(input_ids)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> float:
        if mode == "full":
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        else:
            loss, _ = answer_only_loss(model, input_ids, labels, attention)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    first_loss = step()  # warm-up (allocator, kernels)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - started) / steps
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"s_per_sample": round(seconds, 3), "peak_rss_mb": round(peak_kb / 1024, 1), "first_loss": first_loss}


def _threads(default: int) -> int:
    return int(os.environ.get("BENCH_TORCH_THREADS") or default)


def _child(mode: str, tokens: int, answer: int, steps: int, data_dir: Path) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench.bench_train_step", "--child", mode, str(tokens), str(answer), str(steps)]
    argv.append(str(data_dir))
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        argv, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent
    )
    if result.returncode != 0:
        raise RuntimeError(f"{mode} at {tokens} tokens failed:\n{result.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def run(quick: bool = False) -> dict[str, float | str]:
    """Both modes at each length; ratios full / answer-only."""
    from services.trainer.training.packaged import ensure_hf_copy
    from shared.embedded_llm import usable_cores
    from shared.settings import Settings

    data_dir = Settings().data_dir.resolve()
    ensure_hf_copy(data_dir)  # built once, before the timed children
    steps = 2 if quick else 3
    figures: dict[str, float | str] = {"model": "gemma-3-270m (packaged GGUF, fp32)", "lora": "r=8 q/k/v/o"}
    figures["answer_tokens"] = float(ANSWER_TOKENS)
    figures["torch_threads"] = float(_threads(usable_cores()))
    for tokens in LENGTHS[:1] if quick else LENGTHS:
        measured = {mode: _child(mode, tokens, ANSWER_TOKENS, steps, data_dir) for mode in ("full", "answer_only")}
        if abs(measured["full"]["first_loss"] - measured["answer_only"]["first_loss"]) > 1e-3:
            raise RuntimeError(f"the two losses differ at {tokens} tokens: {measured}")
        for mode, values in measured.items():
            figures[f"{mode}_{tokens}_s_per_sample"] = values["s_per_sample"]
            figures[f"{mode}_{tokens}_peak_rss_mb"] = values["peak_rss_mb"]
        full, answer = measured["full"], measured["answer_only"]
        figures[f"speedup_{tokens}"] = round(full["s_per_sample"] / answer["s_per_sample"], 2)
        figures[f"rss_ratio_{tokens}"] = round(full["peak_rss_mb"] / answer["peak_rss_mb"], 2)
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, tokens, answer, steps, data_dir = sys.argv[2:7]
        print(json.dumps(_measure(mode, int(tokens), int(answer), int(steps), data_dir)))
    else:
        print(json.dumps(run(quick=True), indent=2))
