"""LLM judge (truthfulness 1–5 with a reason, as in the talk) and FineSurE for summaries.

Truthfulness: the judge sees the target (reference) and the model's response and answers
``{"score": 1..5, "reason": "..."}``.

FineSurE (Song et al., 2024), as the talk used it:

* faithfulness: the judge checks every summary sentence against the thread; the share of sentences
  without a factual error;
* completeness: the share of key facts (from the reference facts) that some summary sentence states;
* conciseness: the share of summary sentences that state at least one key fact.

Runs only when QUOTEFLOW_LLM_URL is configured; otherwise the report says it was skipped and why.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from services.trainer.chat import JsonChat, LlmUnavailable, configured_llm
from shared.events import KeyFacts

TRUTHFULNESS_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}
FAITHFULNESS_SCHEMA = {
    "type": "object",
    "properties": {
        "sentences": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "faithful": {"type": "boolean"}},
                "required": ["index", "faithful"],
            },
        }
    },
    "required": ["sentences"],
}
ALIGNMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "sentences": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["index", "sentences"],
            },
        }
    },
    "required": ["facts"],
}


def split_sentences(text: str) -> list[str]:
    """Summary lines / sentences, without list markers."""
    sentences: list[str] = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[•*-])\s*", "", line).strip()
        sentences.extend(p.strip() for p in re.split(r"(?<=[.!?。])\s+", line) if p.strip())
    return sentences


def key_fact_sentences(facts: KeyFacts) -> list[str]:
    """The reference facts as short statements, the units FineSurE checks for."""
    out = []
    for item in facts.items:
        if item.product and item.quantity is not None:
            out.append(f"{item.product}: quantity {item.quantity:g} {item.unit or ''}".strip())
        if item.product and item.unit_price is not None:
            out.append(f"{item.product}: unit price {item.unit_price:g} {item.currency or ''}".strip())
        if item.discount_percent:
            out.append(f"{item.product}: discount {item.discount_percent:g}%")
    labels = {
        "moq": "minimum order quantity",
        "delivery_lead_time_days": "lead time in days",
        "delivery_date": "delivery date",
        "shipping_method": "shipping method",
        "incoterm": "Incoterm",
        "payment_terms": "payment terms",
        "warranty_months": "warranty in months",
        "budget": "budget",
    }
    for name, label in labels.items():
        value = getattr(facts, name)
        if value is not None:
            out.append(f"{label}: {value}")
    if facts.quote_requested:
        out.append("the buyer requested a quotation")
    return out


def _numbered(lines: Sequence[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines))


async def truthfulness(chat: JsonChat, question: str, target: str, response: str) -> tuple[int, str]:
    prompt = (
        "You are grading a model's answer for truthfulness against a target answer.\n"
        f"Question or task: {question}\nTarget response: {target}\nModel response: {response}\n"
        "Give a score from 1 (false or contradicting the target) to 5 (fully truthful and consistent with the "
        'target) and the reason. Answer as JSON {"score": <1-5>, "reason": "..."}.'
    )
    answer = await chat.ask([{"role": "user", "content": prompt}], TRUTHFULNESS_SCHEMA)
    score = int(answer.get("score", 0))
    if not 1 <= score <= 5:
        raise LlmUnavailable(f"judge score out of range: {score}")
    return score, str(answer.get("reason", ""))


async def finesure(chat: JsonChat, document: str, summary: str, facts: Sequence[str]) -> dict[str, float] | None:
    sentences = split_sentences(summary)
    if not sentences:
        return None
    faithful_prompt = (
        "Check each summary sentence against the e-mail thread. A sentence is unfaithful if it states something "
        "the thread does not say or contradicts it.\n\n"
        f"Thread:\n{document}\n\nSummary sentences:\n{_numbered(sentences)}\n\n"
        'Answer as JSON {"sentences": [{"index": <n>, "faithful": true|false}, ...]} for every sentence.'
    )
    verdicts = await chat.ask([{"role": "user", "content": faithful_prompt}], FAITHFULNESS_SCHEMA)
    flags = {int(v["index"]): bool(v["faithful"]) for v in verdicts.get("sentences", []) if "index" in v}
    faithfulness = sum(flags.get(i, False) for i in range(len(sentences))) / len(sentences)
    result = {"faithfulness": faithfulness}
    if facts:
        align_prompt = (
            "For each key fact, list the indexes of the summary sentences that state it (empty if none).\n\n"
            f"Key facts:\n{_numbered(facts)}\n\nSummary sentences:\n{_numbered(sentences)}\n\n"
            'Answer as JSON {"facts": [{"index": <n>, "sentences": [<i>, ...]}, ...]} for every key fact.'
        )
        alignment = await chat.ask([{"role": "user", "content": align_prompt}], ALIGNMENT_SCHEMA)
        covered: dict[int, set[int]] = {}
        for entry in alignment.get("facts", []):
            indexes = {int(s) for s in entry.get("sentences", []) if 0 <= int(s) < len(sentences)}
            covered[int(entry.get("index", -1))] = indexes
        result["completeness"] = sum(1 for i in range(len(facts)) if covered.get(i)) / len(facts)
        used = set().union(*covered.values()) if covered else set()
        result["conciseness"] = len(used) / len(sentences)
    return result


async def _judge_engine(
    chat: JsonChat, inputs: Sequence[tuple[str, str, str]], documents: dict[str, tuple[str, KeyFacts]]
) -> dict[str, Any]:
    scores: list[int] = []
    reasons: list[dict[str, Any]] = []
    fine: dict[str, list[float]] = {"faithfulness": [], "completeness": [], "conciseness": []}
    failures = 0
    for case_id, summary, reference in inputs:
        if not summary.strip():
            continue
        try:
            score, reason = await truthfulness(chat, "Summarize the e-mail thread.", reference, summary)
            scores.append(score)
            if len(reasons) < 5:
                reasons.append({"thread": case_id, "score": score, "reason": reason})
            document, facts = documents[case_id]
            measured = await finesure(chat, document, summary, key_fact_sentences(facts))
            for key, value in (measured or {}).items():
                fine[key].append(value)
        except Exception:  # a judge failure on one summary is counted, not fatal
            failures += 1
    result: dict[str, Any] = {
        "judged": len(scores),
        "failures": failures,
        "truthfulness": sum(scores) / len(scores) if scores else None,
        "truthfulness_histogram": {str(s): scores.count(s) for s in range(1, 6)},
        "examples": reasons,
    }
    for key, values in fine.items():
        result[key] = sum(values) / len(values) if values else None
    return result


def judge_summaries(
    results: dict[str, Any], judge_inputs: dict[str, list[tuple[str, str, str]]], outcomes: Sequence[Any], sample: int
) -> str:
    """Add ``judge`` to each engine's results; returns the status line for the report."""
    chat = configured_llm()
    if chat is None:
        return "skipped: QUOTEFLOW_LLM_URL is not set (the LLM judge and FineSurE need an LLM endpoint)"
    if not any(s.strip() for inputs in judge_inputs.values() for _, s, _ in inputs):
        return "skipped: no engine produced summaries"
    from services.trainer.cases import assemble_case
    from shared.llm_format.prompts import render_thread

    async def main() -> None:
        documents: dict[str, tuple[str, KeyFacts]] = {}
        wanted = {case_id for inputs in judge_inputs.values() for case_id, _, _ in inputs[:sample]}
        for outcome in outcomes:
            if outcome.case.case_id in wanted:
                thread = await assemble_case(outcome.case)
                text = render_thread(thread) if thread else ""
                documents[outcome.case.case_id] = (text, outcome.case.expected)
        try:
            for engine, inputs in judge_inputs.items():
                if any(s.strip() for _, s, _ in inputs):
                    results[engine]["judge"] = await _judge_engine(chat, inputs[:sample], documents)
        finally:
            await chat.close()

    asyncio.run(main())
    return f"ran on {chat.url} for up to {sample} summaries per engine"
