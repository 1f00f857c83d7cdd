"""Shared helpers for the hand-written thread folders (own fixtures, held-out, unseen), scored by SPEC §4.

Each folder holds ``thread.mbox`` and ``expected.json`` (``{"expected": <key facts>, "vat_status",
"incoterm_place", "language", "notes"}``). Threads are read and assembled the way ``quoteflow extract``
does (services.ingest.mailfiles), extracted once per test session by the rules engine, and scored with the
evaluation harness's exact metric (services/trainer/evaluation/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
import mailbox
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from services.extract.engine import Extraction
from services.extract.rules import RulesEngine
from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.settings import IngestSettings
from shared.events import KeyFacts, NormalizedThread

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "fixtures" / "threads"
HELDOUT = REPO / "tests" / "fixtures" / "threads_heldout"
UNSEEN = REPO / "tests" / "fixtures" / "threads_unseen"
DEV = REPO / "tests" / "fixtures" / "threads_dev"
ENGINE = RulesEngine()


def thread_dirs(root: Path) -> list[Path]:
    """The thread folders under root (those with an expected.json), sorted by name."""
    return sorted(p for p in root.iterdir() if (p / "expected.json").exists())


@cache
def assemble(folder: Path) -> NormalizedThread:
    file = read_mail_files([folder / "thread.mbox"])[0]
    thread = asyncio.run(assemble_offline(file, IngestSettings()))
    assert thread is not None, folder.name
    return thread


@cache
def extract(folder: Path) -> Extraction:
    return ENGINE.extract_sync(assemble(folder))


def expected(folder: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return document


def pairs(folders: list[Path]) -> list[tuple[KeyFacts, KeyFacts]]:
    """(predicted, expected) key facts per folder, in folder order."""
    return [(extract(f).facts, KeyFacts.model_validate(expected(f)["expected"])) for f in folders]


def check_split_layout(folders: list[Path], name_pattern: str) -> None:
    """A hand-written split: at least 40 threads in three languages (ko and en ≥ 30 % each, mixed ≥ 15 %), folders
    named by ``name_pattern`` and not shared with the own fixtures or the held-out split, and each expected.json
    in the held-out layout with valid key facts and a note on what the thread tests."""
    assert len(folders) >= 40
    languages = Counter(expected(folder)["language"] for folder in folders)
    assert set(languages) == {"ko", "en", "mixed"}
    assert languages["ko"] >= 0.3 * len(folders) and languages["en"] >= 0.3 * len(folders)
    assert languages["mixed"] >= 0.15 * len(folders)
    others = {p.name for p in thread_dirs(FIXTURES)} | {p.name for p in thread_dirs(HELDOUT)}
    for folder in folders:
        assert re.fullmatch(name_pattern, folder.name), folder.name
        assert folder.name not in others
        document = expected(folder)
        assert set(document) == {"expected", "vat_status", "incoterm_place", "language", "notes"}, folder.name
        KeyFacts.model_validate(document["expected"])
        assert document["vat_status"] in (None, "excluded", "included", "exempt"), folder.name
        assert document["notes"].strip(), folder.name


def check_mboxes_assemble(folders: list[Path]) -> None:
    """Every thread.mbox is threaded by Message-ID / In-Reply-To / References and assembles into one thread with
    all its messages; the split has one-message threads and threads of six or more."""
    lengths = set()
    for folder in folders:
        messages = list(mailbox.mbox(folder / "thread.mbox"))
        assert messages, folder.name
        assert all(m["Message-ID"] for m in messages), folder.name
        assert all(m["In-Reply-To"] and m["References"] for m in messages[1:]), folder.name
        assert len(assemble(folder).messages) == len(messages), folder.name
        lengths.add(len(messages))
    assert min(lengths) == 1 and max(lengths) >= 6


def f1_report(folders: list[Path]) -> tuple[float, str]:
    """Key-fact F1 of the split (SPEC §4 metric) and what to read when it falls: per language, per field and the
    ten weakest threads."""
    from services.trainer.evaluation import metrics

    scored = pairs(folders)
    by_language: dict[str, list[tuple[KeyFacts, KeyFacts]]] = {}
    for folder, pair in zip(folders, scored, strict=True):
        by_language.setdefault(expected(folder)["language"], []).append(pair)
    languages = {language: round(metrics.key_fact_f1(group).f1, 3) for language, group in sorted(by_language.items())}
    report = metrics.key_fact_f1(scored)
    fields = {name: round(f1, 3) for name, f1 in report.field_f1().items()}
    per_thread = zip(scored, folders, strict=True)
    worst = sorted((round(metrics.key_fact_f1([pair]).f1, 3), folder.name) for pair, folder in per_thread)[:10]
    return report.f1, f"F1 {report.f1:.3f}; per language {languages}; per field {fields}; weakest threads {worst}"
