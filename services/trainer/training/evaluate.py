"""The evaluation gate: key-fact F1 (``quoteflow eval``'s metric) on the held-out split, new vs in service.

Each held-out case is answered by greedy generation; the answer is parsed as key facts (an unparsable
answer counts as all-empty facts, so it is scored, not skipped) and the pairs go to ``key_fact_f1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.trainer.training.chat import render_chat
from services.trainer.training.data import EvalCase
from shared.events import KeyFacts
from shared.llm_format.answers import read_facts

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class GateDecision:
    """Whether the new adapter replaces the one in service, and why."""

    promote: bool
    reason: str


def decide(new_f1: float, baseline_f1: float | None, margin: float) -> GateDecision:
    """Promote unless key-fact F1 drops by more than ``margin`` below the adapter in service."""
    if baseline_f1 is None:
        return GateDecision(True, f"no adapter in service; key_fact_f1 {new_f1:.4f}")
    if new_f1 + margin >= baseline_f1:
        return GateDecision(
            True, f"key_fact_f1 {new_f1:.4f} vs {baseline_f1:.4f} in service (allowed drop {margin:.4f})"
        )
    return GateDecision(
        False, f"key_fact_f1 dropped: {new_f1:.4f} vs {baseline_f1:.4f} in service (allowed drop {margin:.4f})"
    )


def generate_answers(
    model: Any, tokenizer: PreTrainedTokenizerBase, cases: Sequence[EvalCase], max_new_tokens: int, batch_size: int
) -> list[str]:
    """Greedy answers to each case's prompt (left-padded batches)."""
    import torch

    answers: list[str] = []
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    candidates = [tokenizer.convert_tokens_to_ids(token) for token in ("<end_of_turn>", str(tokenizer.eos_token))]
    end_ids = [i for i in candidates if isinstance(i, int) and i != tokenizer.unk_token_id]
    model.eval()
    try:
        for start in range(0, len(cases), batch_size):
            batch = cases[start : start + batch_size]
            prompts = [render_chat(list(case.prompt), add_generation_prompt=True).text for case in batch]  # type: ignore[arg-type]
            inputs = tokenizer(prompts, add_special_tokens=False, return_tensors="pt", padding=True)
            inputs = {key: value.to(model.device) for key, value in inputs.items()}
            with torch.no_grad():
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=end_ids,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            answers.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = previous_side
    return answers


def score_answers(cases: Sequence[EvalCase], answers: Sequence[str]) -> dict[str, float]:
    """Key-fact F1 of the answers against the expected facts, and how many answers were valid JSON facts."""
    from services.trainer.evaluation.metrics import key_fact_f1

    parsed = [read_facts(answer) for answer in answers]
    report = key_fact_f1((facts or KeyFacts(), case.expected) for facts, case in zip(parsed, cases, strict=True))
    valid = sum(1 for facts in parsed if facts is not None)
    return {
        "key_fact_f1": round(report.f1, 6),
        "key_fact_macro_f1": round(report.macro_f1, 6),
        "exact_threads": float(report.exact_threads),
        "json_valid_rate": round(valid / len(cases), 6) if cases else 0.0,
        "heldout_examples": float(len(cases)),
    }


def evaluate_model(
    model: Any, tokenizer: PreTrainedTokenizerBase, cases: Sequence[EvalCase], max_new_tokens: int, batch_size: int
) -> dict[str, float]:
    """Generate and score: the metrics the gate compares."""
    if not cases:
        return {"heldout_examples": 0.0}
    answers = generate_answers(model, tokenizer, cases, max_new_tokens, batch_size)
    return score_answers(cases, answers)
