"""The evaluation gate: the held-out split answered by the new adapter and by what serves now, then compared.

Both tasks the adapter is trained on are scored: key facts (``quoteflow eval``'s key-fact F1; an unparsable
answer counts as all-empty facts, so it is scored, not skipped) and summary + tags (tag F1 and SemScore,
:mod:`services.trainer.evaluation.semantic`). Answers are greedy. They come from an :class:`Answerer`:
llama.cpp with the adapter's checked GGUF LoRA (what the embedded LLM serves, and far faster on a CPU), or
transformers + PEFT (an adapter without a GGUF, e.g. for TGI on a GPU host).

:func:`decide` refuses an adapter whose answers are not valid JSON often enough, whose key-fact F1 drops
more than the margin below the adapter in service, or whose tag F1 or SemScore does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from services.trainer.training.chat import ChatMessage, render_chat
from services.trainer.training.data import EvalCase, SummaryCase
from shared.events import KeyFacts
from shared.llm_format.answers import (
    InvalidAnswer,
    facts_schema,
    parse_summary_tags,
    read_facts,
    summary_tags_schema,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from services.trainer.evaluation.semantic import Similarity
    from services.trainer.training.recipe import EvalRecipe

# Metrics that must not drop more than the margin below the adapter in service (when both have them).
COMPARED_METRICS = ("key_fact_f1", "tag_f1", "semscore")
VALIDITY_METRICS = {"json_valid_rate": "key-facts", "summary_json_valid_rate": "summary"}


@dataclass(frozen=True)
class GateDecision:
    """Whether the new adapter replaces the one in service, and why."""

    promote: bool
    reason: str


def decide(
    new: dict[str, float], baseline: dict[str, float] | None, margin: float, min_json_valid_rate: float = 0.0
) -> GateDecision:
    """Refuse invalid JSON below ``min_json_valid_rate``, or any compared metric dropping by more than ``margin``."""
    for key, task in VALIDITY_METRICS.items():
        rate = new.get(key)
        if rate is not None and rate < min_json_valid_rate:
            return GateDecision(
                False,
                f"not promoted: {task} answers are valid JSON in {rate:.0%} of held-out cases "
                f"(at least {min_json_valid_rate:.0%} required)",
            )
    f1 = new.get("key_fact_f1", 0.0)
    if not baseline or baseline.get("key_fact_f1") is None:
        return GateDecision(True, f"no adapter in service; key_fact_f1 {f1:.4f}")
    compared: list[str] = []
    for key in COMPARED_METRICS:
        ours, theirs = new.get(key), baseline.get(key)
        if ours is None or theirs is None:
            continue
        if ours + margin < theirs:
            return GateDecision(
                False, f"{key} dropped: {ours:.4f} vs {theirs:.4f} in service (allowed drop {margin:.4f})"
            )
        compared.append(f"{key} {ours:.4f} vs {theirs:.4f}")
    return GateDecision(True, f"{'; '.join(compared)} in service (allowed drop {margin:.4f})")


class Answerer(Protocol):
    """Greedy answers to chat prompts (the model's next turn, special tokens removed)."""

    def answer(
        self, prompts: Sequence[Sequence[ChatMessage]], max_new_tokens: int, schema: dict[str, Any] | None = None
    ) -> list[str]: ...


class TransformersAnswerer:
    """transformers (+ PEFT) generation in left-padded batches."""

    def __init__(self, model: Any, tokenizer: PreTrainedTokenizerBase, batch_size: int) -> None:
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def answer(
        self, prompts: Sequence[Sequence[ChatMessage]], max_new_tokens: int, schema: dict[str, Any] | None = None
    ) -> list[str]:
        """Unconstrained (``schema`` is not applied: transformers has no grammar here)."""
        return generate_answers(self.model, self.tokenizer, prompts, max_new_tokens, self.batch_size)


class LlamaCppAnswerer:
    """llama.cpp on the base GGUF, with a GGUF LoRA or without (the base model), as the embedded LLM serves.

    Prompts are tokenized by the training tokenizer, exactly as in the GGUF check, so the gate scores the
    tokens the adapter was trained and checked on. One llama.cpp context, sized for the longest prompt.
    """

    def __init__(
        self,
        base_gguf: Path,
        adapter_gguf: Path | None,
        tokenizer: PreTrainedTokenizerBase,
        *,
        threads: int,
        grammar: bool = True,
    ) -> None:
        self.base_gguf, self.adapter_gguf, self.tokenizer, self.threads = base_gguf, adapter_gguf, tokenizer, threads
        self.grammar = grammar

    def answer(
        self, prompts: Sequence[Sequence[ChatMessage]], max_new_tokens: int, schema: dict[str, Any] | None = None
    ) -> list[str]:
        """Greedy answers; with ``schema`` (and ``grammar``) under the grammar the embedded server applies."""
        from services.trainer.training.gguf_lora import end_token_ids, llama_greedy

        encoded = [list(self.tokenizer(_prompt_text(p), add_special_tokens=False)["input_ids"]) for p in prompts]
        if not encoded:
            return []
        end_ids = end_token_ids(self.tokenizer)
        with self._llama(max(len(ids) for ids in encoded) + max_new_tokens + 8) as llm:
            grammar = self._grammar(schema) if schema is not None and self.grammar else None
            answers = [llama_greedy(llm, ids, max_new_tokens, end_ids, grammar=grammar) for ids in encoded]
        return [str(self.tokenizer.decode(tokens, skip_special_tokens=True)) for tokens in answers]

    @staticmethod
    def _grammar(schema: dict[str, Any]) -> Any:
        """The serving grammar of ``schema``: bounded strings, llama-cpp-python's converter, tightened
        (extract's own functions, so the gate scores what the embedded server would write)."""
        import llama_cpp

        from services.extract.api import schema_grammar
        from shared.llm_format.answers import bounded_schema

        gbnf = schema_grammar(json.dumps(bounded_schema(schema), ensure_ascii=False, sort_keys=False))
        return llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)

    @contextlib.contextmanager
    def _llama(self, context: int) -> Iterator[Any]:
        import llama_cpp

        from services.trainer.training.gguf_lora import native_stderr, tail_of

        with native_stderr() as log:
            try:
                llm = llama_cpp.Llama(
                    model_path=str(self.base_gguf),
                    lora_path=str(self.adapter_gguf) if self.adapter_gguf else None,
                    n_ctx=context,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    n_gpu_layers=0,
                    seed=0,
                    verbose=False,
                )
            except (RuntimeError, ValueError) as exc:
                raise RuntimeError(f"{exc}: {tail_of(log)}") from exc
            try:
                yield llm
            finally:
                llm.close()


def _prompt_text(prompt: Sequence[ChatMessage]) -> str:
    return render_chat(list(prompt), add_generation_prompt=True).text  # type: ignore[arg-type]


def generate_answers(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[ChatMessage]],
    max_new_tokens: int,
    batch_size: int,
) -> list[str]:
    """Greedy transformers answers to each prompt (left-padded batches)."""
    import torch

    from services.trainer.training.gguf_lora import end_token_ids

    answers: list[str] = []
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    end_ids = end_token_ids(tokenizer)
    model.eval()
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [_prompt_text(prompt) for prompt in prompts[start : start + batch_size]]
            inputs = tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True)
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


def score_summaries(cases: Sequence[SummaryCase], answers: Sequence[str], similarity: Similarity) -> dict[str, float]:
    """Tag F1 and SemScore of summary answers; an answer that is not the summary JSON scores as empty."""
    from services.trainer.evaluation.semantic import semscore, tag_f1

    parsed: list[tuple[str, list[str]]] = []
    valid = 0
    for answer in answers:
        try:
            summary, tags = parse_summary_tags(answer)
        except InvalidAnswer:
            parsed.append(("", []))
            continue
        valid += 1
        parsed.append((summary or "", list(tags or [])))
    tags_result = tag_f1(((tags, list(case.tags)) for (_, tags), case in zip(parsed, cases, strict=True)), similarity)
    # An empty or broken summary scores 0 (semscore() skips empty responses, which would reward silence).
    sem = semscore(((summary, case.summary) for (summary, _), case in zip(parsed, cases, strict=True)), similarity)
    scored = sum(sem.scores) / len(cases) if cases else 0.0
    return {
        "tag_f1": round(tags_result.f1, 6),
        "semscore": round(scored, 6),
        "summary_json_valid_rate": round(valid / len(cases), 6) if cases else 0.0,
        "heldout_summaries": float(len(cases)),
    }


def evaluate_answerer(
    answerer: Answerer,
    cases: Sequence[EvalCase],
    summary_cases: Sequence[SummaryCase],
    recipe: EvalRecipe,
    similarity: Similarity | None,
) -> dict[str, float]:
    """Generate and score both tasks: the metrics the gate compares."""
    metrics: dict[str, float] = {"heldout_examples": 0.0}
    if cases:
        answers = answerer.answer([c.prompt for c in cases], recipe.max_new_tokens, facts_schema())
        metrics = score_answers(cases, answers)
    if summary_cases and similarity is not None:
        answers = answerer.answer(
            [c.prompt for c in summary_cases], recipe.summary_max_new_tokens, summary_tags_schema()
        )
        metrics.update(score_summaries(summary_cases, answers, similarity))
    return metrics
