"""Training data of one run: domain text, pre-instruction Q/A, extraction and summary/tag conversations.

Sources, merged per dataset:

- the synthetic training sets (``services.trainer.synth.datasets.build_training_sets`` output: chat-format
  JSONL with train/validation/test splits), when a folder of them is given;
- the trade glossary (through the synthetic set builders) for domain text and Q/A when no set provides them;
- people's corrections (the corrections store), added to the extraction and summary/tag sets with the
  prompts the LLM engine asks a served adapter with (:mod:`shared.llm_format`).

The held-out extraction split is what the evaluation gate scores. Corrections are assigned to it by a hash
of their thread id, so a thread stays on the same side of the split from one run to the next.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.trainer.training.chat import ChatMessage, fold_system_prompt
from shared.events import FactsCorrected, KeyFacts, NormalizedThread
from shared.llm_format.answers import InvalidAnswer, facts_answer, parse_summary_tags, read_facts, summary_answer
from shared.llm_format.prompts import Task, training_messages

DATASET_NAMES = ("domain", "pit", "extraction", "summary_tags")
Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class Example:
    """One training example: plain text (continual pre-training) or a conversation (loss on model turns)."""

    dataset: str
    source: str
    text: str | None = None
    messages: tuple[ChatMessage, ...] | None = None

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass(frozen=True)
class EvalCase:
    """A held-out extraction example: the prompt and the facts a person or the generator says are right."""

    case_id: str
    prompt: tuple[ChatMessage, ...]
    expected: KeyFacts


@dataclass(frozen=True)
class SummaryCase:
    """A held-out summary-and-tags example: the prompt, and the summary and tags a person or the generator wrote."""

    case_id: str
    prompt: tuple[ChatMessage, ...]
    summary: str
    tags: tuple[str, ...]


@dataclass
class TrainingData:
    """Everything one run trains and evaluates on."""

    train: dict[str, list[Example]] = field(default_factory=lambda: {name: [] for name in DATASET_NAMES})
    heldout: list[EvalCase] = field(default_factory=list)
    heldout_summaries: list[SummaryCase] = field(default_factory=list)
    corrections_used: int = 0

    @property
    def size(self) -> int:
        return sum(len(examples) for examples in self.train.values())

    def counts(self) -> dict[str, int]:
        return {name: len(examples) for name, examples in self.train.items()}

    def texts(self) -> Iterable[str]:
        """All raw text, for training a tokenizer on this data."""
        for examples in self.train.values():
            for example in examples:
                if example.text is not None:
                    yield example.text
                for message in example.messages or ():
                    yield message["content"]
        prompts = [case.prompt for case in self.heldout] + [case.prompt for case in self.heldout_summaries]
        for prompt in prompts:
            for message in prompt:
                yield message["content"]


@dataclass(frozen=True)
class CorrectionRecord:
    """A stored correction with the thread it belongs to (one line of the corrections JSONL)."""

    correction: FactsCorrected
    thread: NormalizedThread


def in_heldout(key: str, percent: float, seed: int) -> bool:
    """Stable split: the same key lands on the same side in every run with the same seed."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


def glossary_examples(seed: int) -> tuple[list[Example], list[Example]]:
    """Domain passages and PIT Q/A from the trade glossary, built as the synthetic sets build them."""
    from services.trainer.synth.datasets import glossary_passages, pit_records
    from services.trainer.synth.glossary import GLOSSARY

    domain = [example_from_record("domain", record, "glossary") for record in glossary_passages()]
    pit = [example_from_record("pit", record, "glossary") for term in GLOSSARY for record in pit_records(term, seed)]
    return domain, pit


def _qa(dataset: str, question: str, answer: str, source: str = "glossary") -> Example:
    return Example(
        dataset,
        source,
        messages=(ChatMessage(role="user", content=question), ChatMessage(role="assistant", content=answer)),
    )


def task_conversation(task: Task, thread: NormalizedThread, answer: str | None = None) -> tuple[ChatMessage, ...]:
    """A task's conversation in the served format (shared.llm_format); without ``answer``, the prompt alone."""
    return tuple(fold_system_prompt(training_messages(task, thread, answer)))


@dataclass
class CorrectionSets:
    """What corrections add to a run: training conversations and held-out cases of both tasks."""

    extraction: list[Example] = field(default_factory=list)
    summary_tags: list[Example] = field(default_factory=list)
    heldout: list[EvalCase] = field(default_factory=list)
    heldout_summaries: list[SummaryCase] = field(default_factory=list)


def correction_examples(records: Sequence[CorrectionRecord], heldout_percent: float, seed: int) -> CorrectionSets:
    """Extraction and summary/tag examples from corrections, and the held-out cases among them."""
    sets = CorrectionSets()
    extraction, summary_tags = sets.extraction, sets.summary_tags
    for record in records:
        correction, thread = record.correction, record.thread
        key = f"{correction.tenant}:{correction.thread_id}"
        if in_heldout(key, heldout_percent, seed):
            prompt = task_conversation("facts", thread)
            sets.heldout.append(EvalCase(case_id=f"correction:{key}", prompt=prompt, expected=correction.facts))
            if correction.summary and correction.tags:
                sets.heldout_summaries.append(
                    SummaryCase(
                        case_id=f"correction:{key}",
                        prompt=task_conversation("summary", thread),
                        summary=correction.summary,
                        tags=tuple(correction.tags),
                    )
                )
            continue
        messages = task_conversation("facts", thread, facts_answer(correction.facts))
        extraction.append(Example("extraction", "correction", messages=messages))
        if correction.summary and correction.tags:
            messages = task_conversation("summary", thread, summary_answer(correction.summary, correction.tags))
            summary_tags.append(Example("summary_tags", "correction", messages=messages))
    return sets


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; a broken line is an error naming the file and line."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            records.append(record)
    return records


def example_from_record(dataset: str, record: dict[str, Any], source: str) -> Example:
    """A text record ({"text"}) or a chat record ({"messages"}; a system turn is folded into the user turn)."""
    if isinstance(record.get("text"), str):
        return Example(dataset, source, text=record["text"])
    messages = record.get("messages")
    if isinstance(messages, list):
        return Example(dataset, source, messages=tuple(fold_system_prompt(messages)))
    if isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str):
        return _qa(dataset, record["prompt"], record["completion"], source)
    raise ValueError(f"a {dataset} record needs 'text', 'messages' or 'prompt'+'completion'")


def eval_case_from_example(case_id: str, example: Example) -> EvalCase | None:
    """A held-out extraction case from a chat example whose last turn is the expected facts JSON."""
    if not example.messages or example.messages[-1]["role"] != "assistant":
        return None
    expected = read_facts(example.messages[-1]["content"])
    if expected is None:
        return None
    return EvalCase(case_id=case_id, prompt=example.messages[:-1], expected=expected)


def summary_case_from_example(case_id: str, example: Example) -> SummaryCase | None:
    """A held-out summary case from a chat example whose last turn is the expected summary-and-tags JSON."""
    if not example.messages or example.messages[-1]["role"] != "assistant":
        return None
    try:
        summary, tags = parse_summary_tags(example.messages[-1]["content"])
    except InvalidAnswer:
        return None
    if not summary:
        return None
    return SummaryCase(case_id=case_id, prompt=example.messages[:-1], summary=summary, tags=tuple(tags or ()))


def dataset_name(set_name: str) -> tuple[str, Split] | None:
    """Map a training-set name such as 'extraction_train' or 'pit.validation' to (dataset, split)."""
    normalized = set_name.replace(".", "_").replace("-", "_").replace("/", "_").lower()
    for split in ("train", "validation", "test"):
        suffix = f"_{split}"
        if normalized.endswith(suffix):
            base = normalized[: -len(suffix)]
            aliases = {
                "domain": "domain",
                "da": "domain",
                "pretraining": "domain",
                "pit": "pit",
                "qa": "pit",
                "extraction": "extraction",
                "key_facts": "extraction",
                "summary_tags": "summary_tags",
                "summary": "summary_tags",
            }
            if base in aliases:
                return aliases[base], split  # type: ignore[return-value]
    return None


def build_training_data(
    *,
    training_sets: dict[str, Path] | None,
    corrections: Sequence[CorrectionRecord],
    heldout_percent: float,
    seed: int,
) -> TrainingData:
    """Merge synthetic sets, glossary and corrections into one run's training and held-out data."""
    data = TrainingData()
    for set_name, path in sorted((training_sets or {}).items()):
        mapped = dataset_name(set_name)
        if mapped is None:
            continue
        dataset, split = mapped
        examples = [example_from_record(dataset, r, f"synthetic:{set_name}") for r in read_jsonl(path)]
        if split == "train":
            data.train[dataset].extend(examples)
        elif split == "test" and dataset == "extraction":
            for index, example in enumerate(examples):
                case = eval_case_from_example(f"synthetic:{set_name}:{index}", example)
                if case is not None:
                    data.heldout.append(case)
        elif split == "test" and dataset == "summary_tags":
            for index, example in enumerate(examples):
                summary_case = summary_case_from_example(f"synthetic:{set_name}:{index}", example)
                if summary_case is not None:
                    data.heldout_summaries.append(summary_case)
    if not data.train["domain"] or not data.train["pit"]:
        domain, pit = glossary_examples(seed)
        data.train["domain"] = data.train["domain"] or domain
        data.train["pit"] = data.train["pit"] or pit
    from_corrections = correction_examples(corrections, heldout_percent, seed)
    data.train["extraction"].extend(from_corrections.extraction)
    data.train["summary_tags"].extend(from_corrections.summary_tags)
    data.heldout.extend(from_corrections.heldout)
    data.heldout_summaries.extend(from_corrections.heldout_summaries)
    data.corrections_used = len(corrections)
    return data
