"""Training sets for the talk's flow: domain text → PIT Q/A → key facts / summary + tags.

:func:`build_training_sets` reads a thread directory (SPEC.md §2 layout: ``<id>/thread.mbox`` +
``<id>/expected.json``, e.g. from ``quoteflow synth``) and writes JSONL files into ``out_dir``, one per
dataset and split (``train``, ``validation``, ``test``). Threads are split once, by a seeded shuffle of their
ids (80/10/10, every split non-empty from three threads on), and every thread-derived record of a thread
lands in that thread's split, so no thread is ever shared between splits. PIT items are split by glossary
term the same way (all questions about one term stay in one split).

Chat records follow Gemma 2: roles ``user`` and ``assistant`` only (no system role: the instruction is part of
the user turn; Gemma's chat template renders ``assistant`` as ``model``).

Record shapes (one JSON object per line, UTF-8):

``domain.<split>.jsonl`` (continual pre-training)::

    {"id": "glossary-ko-FOB", "source": "glossary" | "thread", "language": "ko"|"en"|"mixed", "text": "..."}

    train holds every glossary passage plus the train threads as plain conversation text; validation and
    test hold their threads' text only (for perplexity).

``pit.<split>.jsonl`` (pre-instruction tuning)::

    {"id": "pit-...", "kind": "term_definition" | "multiple_choice", "language": "ko"|"en", "term": "...",
     "messages": [{"role": "user", "content": "FOB의 뜻은 무엇인가요?"},
                  {"role": "assistant", "content": "<definition>"}]}

    multiple_choice user turns list options A–D; the assistant answers "B) <definition>".

``extraction.<split>.jsonl`` (thread → key facts)::

    {"id": "<thread id>", "thread_id": "<thread id>", "language": "...",
     "messages": [{"role": "user", "content": "<the facts task's prompt: instruction, then <thread>...</thread>>"},
                  {"role": "assistant", "content": "<KeyFacts JSON, SPEC.md §1, every field present>"}]}

``summary.<split>.jsonl`` (thread → summary + tags)::

    {"id": ..., "thread_id": ..., "language": ...,
     "messages": [{"role": "user", "content": ...},
                  {"role": "assistant", "content": "{\\"summary\\": \\"...\\", \\"tags\\": [\\"...\\"]}"}]}

``manifest.json`` lists every file with its record count and the thread ids of each split.

Thread text, prompts and answers come from :mod:`shared.llm_format`, the format the extract service asks the
served model with: a record's user turn is byte for byte the prompt the tuned adapter will be sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.trainer.cases import ThreadCase, assemble_case, load_cases
from services.trainer.synth.glossary import GLOSSARY, Term, definition, term_label
from shared.events import NormalizedThread
from shared.llm_format.answers import facts_answer, summary_answer
from shared.llm_format.prompts import render_thread, training_messages

SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
DATASETS = ("domain", "pit", "extraction", "summary")

# --------------------------------------------------------------------------- splitting


def split_ids(ids: Sequence[str], seed: int) -> dict[str, str]:
    """id → split, by a seeded shuffle: 80/10/10, validation and test non-empty from three ids on."""
    ordered = sorted(set(ids))
    random.Random(f"quoteflow-split-{seed}").shuffle(ordered)
    n = len(ordered)
    n_test = max(1, round(n * SPLIT_FRACTIONS[2])) if n >= 3 else 0
    n_validation = max(1, round(n * SPLIT_FRACTIONS[1])) if n >= 3 else (1 if n == 2 else 0)
    result: dict[str, str] = {}
    for index, item in enumerate(ordered):
        if index < n_test:
            result[item] = "test"
        elif index < n_test + n_validation:
            result[item] = "validation"
        else:
            result[item] = "train"
    return result


# --------------------------------------------------------------------------- records


def _chat(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def _term_key(term: Term) -> str:
    return term.term_en.split(" (")[0]


def glossary_passages() -> list[dict[str, Any]]:
    """Each term as a short encyclopaedic passage in both languages, plus one passage per topic."""
    records: list[dict[str, Any]] = []
    for term in GLOSSARY:
        key = _term_key(term)
        records.append(
            {
                "id": f"glossary-en-{key}",
                "source": "glossary",
                "language": "en",
                "text": f"{term.term_en}. {term.definition_en} In Korean trade correspondence it is written "
                f"{term.term_ko}.",
            }
        )
        records.append(
            {
                "id": f"glossary-ko-{key}",
                "source": "glossary",
                "language": "ko",
                "text": f"{term.term_ko}: {term.definition_ko} 영문으로는 {term.term_en}라고 합니다.",
            }
        )
    topics: dict[str, list[Term]] = {}
    for term in GLOSSARY:
        topics.setdefault(term.topic, []).append(term)
    for topic, terms in topics.items():
        records.append(
            {
                "id": f"glossary-topic-{topic}",
                "source": "glossary",
                "language": "ko",
                "text": "\n".join(f"- {t.term_ko}: {t.definition_ko}" for t in terms),
            }
        )
    return records


def pit_records(term: Term, seed: int) -> list[dict[str, Any]]:
    """Term–definition and question–options–answer items for one term, in Korean and English."""
    rng = random.Random(f"{seed}-{term.term_en}")
    records: list[dict[str, Any]] = []
    key = _term_key(term)
    others = [t for t in GLOSSARY if t is not term]
    for language in ("ko", "en"):
        label, answer = term_label(term, language), definition(term, language)
        question = f"{label}의 뜻은 무엇인가요?" if language == "ko" else f"What does {label} mean?"
        records.append(
            {
                "id": f"pit-def-{language}-{key}",
                "kind": "term_definition",
                "language": language,
                "term": term.term_en,
                "messages": _chat(question, answer),
            }
        )
        distractors = rng.sample(others, 3)
        options = [answer, *(definition(t, language) for t in distractors)]
        rng.shuffle(options)
        letters = "ABCD"
        correct = letters[options.index(answer)]
        listed = "\n".join(f"{letter}) {option}" for letter, option in zip(letters, options, strict=True))
        if language == "ko":
            prompt = f"다음 중 {label}에 대한 설명으로 옳은 것은 무엇인가요?\n{listed}\n정답을 고르세요."
        else:
            prompt = f"Which of the following correctly describes {label}?\n{listed}\nChoose the correct option."
        records.append(
            {
                "id": f"pit-mc-{language}-{key}",
                "kind": "multiple_choice",
                "language": language,
                "term": term.term_en,
                "messages": _chat(prompt, f"{correct}) {answer}"),
            }
        )
    return records


def extraction_record(case: ThreadCase, thread: NormalizedThread) -> dict[str, Any]:
    return {
        "id": case.case_id,
        "thread_id": case.case_id,
        "language": case.language or thread.language,
        "messages": training_messages("facts", thread, facts_answer(case.expected)),
    }


def summary_record(case: ThreadCase, thread: NormalizedThread) -> dict[str, Any] | None:
    """None when the case has no reference summary (hand-labelled facts only)."""
    if not case.summary:
        return None
    return {
        "id": case.case_id,
        "thread_id": case.case_id,
        "language": case.language or thread.language,
        "messages": training_messages("summary", thread, summary_answer(case.summary, case.tags or [])),
    }


# --------------------------------------------------------------------------- builder


async def _assemble_all(cases: list[ThreadCase]) -> list[NormalizedThread | None]:
    return [await assemble_case(case) for case in cases]


def build_training_sets(threads_dir: Path, out_dir: Path, seed: int) -> dict[str, Path]:
    """Write domain, PIT, extraction and summary JSONL per split; returns ``{"<dataset>.<split>": path}``
    plus ``"manifest"``. Threads that ingest cannot assemble are skipped and listed in the manifest."""
    cases = load_cases(threads_dir)
    threads = asyncio.run(_assemble_all(cases))
    thread_split = split_ids([c.case_id for c in cases], seed)
    term_split = split_ids([t.term_en for t in GLOSSARY], seed)

    records: dict[str, dict[str, list[dict[str, Any]]]] = {d: {s: [] for s in SPLITS} for d in DATASETS}
    records["domain"]["train"].extend(glossary_passages())
    for term in GLOSSARY:
        records["pit"][term_split[term.term_en]].extend(pit_records(term, seed))
    skipped: list[str] = []
    for case, thread in zip(cases, threads, strict=True):
        if thread is None:
            skipped.append(case.case_id)
            continue
        split = thread_split[case.case_id]
        records["domain"][split].append(
            {
                "id": f"thread-{case.case_id}",
                "source": "thread",
                "thread_id": case.case_id,
                "language": case.language or thread.language,
                "text": render_thread(thread),
            }
        )
        records["extraction"][split].append(extraction_record(case, thread))
        summary = summary_record(case, thread)
        if summary is not None:
            records["summary"][split].append(summary)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    counts: dict[str, int] = {}
    for dataset, by_split in records.items():
        for split, rows in by_split.items():
            path = out_dir / f"{dataset}.{split}.jsonl"
            with path.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps({**row, "split": split}, ensure_ascii=False) + "\n")
            paths[f"{dataset}.{split}"] = path
            counts[path.name] = len(rows)
    manifest = {
        "threads_dir": str(threads_dir),
        "seed": seed,
        "files": counts,
        "splits": {s: sorted(i for i, v in thread_split.items() if v == s and i not in skipped) for s in SPLITS},
        "skipped_threads": skipped,
        "fingerprint": hashlib.sha256(json.dumps(counts, sort_keys=True).encode()).hexdigest()[:16],
    }
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["manifest"] = manifest_path
    return paths
