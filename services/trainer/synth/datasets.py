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
     "messages": [{"role": "user", "content": "<instruction>\\n\\n<conversation>"},
                  {"role": "assistant", "content": "<KeyFacts JSON, SPEC.md §1, every field present>"}]}

``summary.<split>.jsonl`` (thread → summary + tags)::

    {"id": ..., "thread_id": ..., "language": ...,
     "messages": [{"role": "user", "content": ...},
                  {"role": "assistant", "content": "{\\"summary\\": \\"...\\", \\"tags\\": [\\"...\\"]}"}]}

``manifest.json`` lists every file with its record count and the thread ids of each split.

The conversation text is rendered from the normalized thread (what ingest gives the extract service) by
:func:`render_conversation`; pass ``render=`` to use the LLM engine's own prompt format instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from services.trainer.synth.glossary import GLOSSARY, Term, definition, term_label
from services.trainer.synth.layout import ThreadCase, assemble_case, load_cases
from shared.events import NormalizedThread

SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
DATASETS = ("domain", "pit", "extraction", "summary")

ThreadRenderer = Callable[[NormalizedThread], str]

EXTRACTION_INSTRUCTION = {
    "en": (
        "Extract the key facts of this buyer–supplier e-mail thread as one JSON object with exactly these fields: "
        "buyer, supplier (each {name, company, email}), currency, items (list of {product, quantity, unit, "
        "unit_price, currency, discount_percent}), moq, delivery_lead_time_days, delivery_date, shipping_method, "
        "incoterm, payment_terms, warranty_months, budget, quote_requested. Use the latest terms on the table; a "
        "rejected counter-offer is not a term; unit_price is net after discount; weeks × 7 days, years × 12 months; "
        "null when not stated."
    ),
    "ko": (
        "다음 구매자–공급자 이메일 스레드의 핵심 정보를 JSON 객체 하나로 추출하세요. "
        "필드: buyer, supplier(각각 {name, company, email}), currency, "
        "items({product, quantity, unit, unit_price, currency, discount_percent} 목록), moq, "
        "delivery_lead_time_days, delivery_date, shipping_method, incoterm, payment_terms, warranty_months, budget, "
        "quote_requested. 스레드 마지막의 최신 조건을 쓰고, 거절된 역제안은 조건이 아닙니다. unit_price는 할인 후 "
        "단가, 주는 ×7일, 년은 ×12개월, 언급되지 않은 값은 null입니다."
    ),
}
SUMMARY_INSTRUCTION = {
    "en": (
        "Summarize this e-mail thread message by message (sender and what they said), then the final terms, and "
        'give tags. Answer as JSON: {"summary": "...", "tags": ["..."]}.'
    ),
    "ko": (
        "다음 이메일 스레드를 메시지별로(발신자와 내용) 요약하고 최종 조건을 정리한 뒤 태그를 붙이세요. "
        'JSON으로 답하세요: {"summary": "...", "tags": ["..."]}.'
    ),
}


# --------------------------------------------------------------------------- rendering


def render_conversation(thread: NormalizedThread) -> str:
    """The thread as the model reads it: one block per message with sender, role, date and new text."""
    blocks = [f"Subject: {thread.subject}"]
    for number, message in enumerate(thread.messages, start=1):
        sender = message.sender_name or ""
        if message.sender_email:
            sender = f"{sender} <{message.sender_email}>".strip()
        date = message.date.isoformat() if message.date else "unknown date"
        text = message.text
        for forwarded in message.forwarded:
            text += f"\n\n[forwarded from {forwarded.sender_name or forwarded.sender_email}]\n{forwarded.text}"
        if message.signature:
            text += f"\n-- \n{message.signature}"
        blocks.append(f"[{number}] From: {sender} ({message.role}) · {date}\n{text}")
    return "\n\n".join(blocks)


def _instruction_language(language: str | None) -> str:
    return "ko" if language in ("ko", "mixed") else "en"


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


def extraction_record(case: ThreadCase, thread: NormalizedThread, render: ThreadRenderer) -> dict[str, Any]:
    language = case.language or thread.language
    instruction = EXTRACTION_INSTRUCTION[_instruction_language(language)]
    target = json.dumps(case.expected.model_dump(mode="json"), ensure_ascii=False)
    return {
        "id": case.case_id,
        "thread_id": case.case_id,
        "language": language,
        "messages": _chat(f"{instruction}\n\n{render(thread)}", target),
    }


def summary_record(case: ThreadCase, thread: NormalizedThread, render: ThreadRenderer) -> dict[str, Any] | None:
    """None when the case has no reference summary (hand-labelled facts only)."""
    if not case.summary:
        return None
    language = case.language or thread.language
    instruction = SUMMARY_INSTRUCTION[_instruction_language(language)]
    target = json.dumps({"summary": case.summary, "tags": case.tags}, ensure_ascii=False)
    return {
        "id": case.case_id,
        "thread_id": case.case_id,
        "language": language,
        "messages": _chat(f"{instruction}\n\n{render(thread)}", target),
    }


# --------------------------------------------------------------------------- builder


async def _assemble_all(cases: list[ThreadCase]) -> list[NormalizedThread | None]:
    return [await assemble_case(case) for case in cases]


def build_training_sets(
    threads_dir: Path, out_dir: Path, seed: int, *, render: ThreadRenderer = render_conversation
) -> dict[str, Path]:
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
                "text": render(thread),
            }
        )
        records["extraction"][split].append(extraction_record(case, thread, render))
        summary = summary_record(case, thread, render)
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
