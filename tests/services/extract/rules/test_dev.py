"""The development split for generalisation work: hand-written threads in the unseen split's failure classes.

tests/fixtures/threads_dev (issue 16) was written fresh, in the failure classes tests/fixtures/threads_unseen
measures (the supplier writing first, free-mail and look-alike domains, 'Item:'/'품명:' labels over model
numbers, packaging and container phrases, options and quantity breaks, dropped lines and errata, 만원 and 억,
European and Swiss numbers, lead times from approval / deposit / L/C, 계약금/잔금 payment, HTML-only mails in
legacy Korean charsets, inline answers, forwards under disclaimers, long signatures), with new companies,
products and wording. This is the split the engine may be tuned on; threads_unseen stays untouched and keeps
measuring generalisation. Scored with the evaluation harness's exact SPEC §4 metric.
"""

from __future__ import annotations

import mailbox
import re
from collections import Counter
from pathlib import Path

import pytest

from shared.events import KeyFacts
from tests.services.extract.rules.fixture_threads import (
    DEV,
    FIXTURES,
    HELDOUT,
    assemble,
    expected,
    pairs,
    thread_dirs,
)

metrics = pytest.importorskip("services.trainer.evaluation.metrics")

DEV_DIRS = thread_dirs(DEV)

DEV_F1_FLOOR = 0.69
"""Measured when the split was written, before any tuning on it: key-fact F1 0.723 on the 42 dev threads with the
rules engine of commit bc3dd79 (ko 0.693, en 0.743, mixed 0.746), 0.726 with that of 64be73a (ko 0.693, en 0.749,
mixed 0.752); weakest fields items.discount_percent 0.25, items.product 0.40, items.unit_price 0.47,
items.quantity 0.53-0.54. The floor sits 0.03 below and only guards against regressions: raise it as tuning on
this split improves the engine (threads_unseen is never tuned on)."""


def test_dev_split_is_large_well_formed_and_in_three_languages() -> None:
    assert len(DEV_DIRS) >= 40
    languages = Counter(expected(folder)["language"] for folder in DEV_DIRS)
    assert set(languages) == {"ko", "en", "mixed"}
    assert languages["ko"] >= 0.3 * len(DEV_DIRS) and languages["en"] >= 0.3 * len(DEV_DIRS)
    assert languages["mixed"] >= 0.15 * len(DEV_DIRS)
    others = {p.name for p in thread_dirs(FIXTURES)} | {p.name for p in thread_dirs(HELDOUT)}
    for folder in DEV_DIRS:
        assert re.fullmatch(r"dv\d{2}-[a-z0-9-]+", folder.name), folder.name
        assert folder.name not in others
        document = expected(folder)
        assert set(document) == {"expected", "vat_status", "incoterm_place", "language", "notes"}, folder.name
        KeyFacts.model_validate(document["expected"])
        assert document["vat_status"] in (None, "excluded", "included", "exempt"), folder.name
        assert document["notes"].strip(), folder.name


def test_every_dev_mbox_assembles_into_one_thread() -> None:
    lengths = set()
    for folder in DEV_DIRS:
        messages = list(mailbox.mbox(folder / "thread.mbox"))
        assert messages, folder.name
        assert all(m["Message-ID"] for m in messages), folder.name
        assert all(m["In-Reply-To"] and m["References"] for m in messages[1:]), folder.name
        assert len(assemble(folder).messages) == len(messages), folder.name
        lengths.add(len(messages))
    assert min(lengths) == 1 and max(lengths) >= 6


def _f1_by_language(folders: list[Path], scored: list[tuple[KeyFacts, KeyFacts]]) -> dict[str, float]:
    by_language: dict[str, list[tuple[KeyFacts, KeyFacts]]] = {}
    for folder, pair in zip(folders, scored, strict=True):
        by_language.setdefault(expected(folder)["language"], []).append(pair)
    return {language: round(metrics.key_fact_f1(group).f1, 3) for language, group in sorted(by_language.items())}


def test_dev_key_fact_f1_with_the_spec_metric() -> None:
    scored = pairs(DEV_DIRS)
    report = metrics.key_fact_f1(scored)
    per_thread = zip(scored, DEV_DIRS, strict=True)
    worst = sorted((round(metrics.key_fact_f1([pair]).f1, 3), folder.name) for pair, folder in per_thread)[:10]
    fields = {name: round(f1, 3) for name, f1 in report.field_f1().items()}
    languages = _f1_by_language(DEV_DIRS, scored)
    assert report.f1 >= DEV_F1_FLOOR, (
        f"dev F1 {report.f1:.3f}; per language {languages}; per field {fields}; weakest threads {worst}"
    )
