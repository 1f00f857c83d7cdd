"""Shared helpers for the hand-written thread folders (own fixtures, held-out, unseen), scored by SPEC §4.

Each folder holds ``thread.mbox`` and ``expected.json`` (``{"expected": <key facts>, "vat_status",
"incoterm_place", "language", "notes"}``). Threads are read and assembled the way ``quoteflow extract``
does (services.ingest.mailfiles), extracted once per test session by the rules engine, and scored with the
evaluation harness's exact metric (services/trainer/evaluation/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
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
