"""Generalisation, measured honestly: the rules engine on threads in styles it was never developed or tuned on.

tests/fixtures/threads_unseen (issue 16) was written by hand after the held-out split, in styles neither the
engine's own fixtures nor the held-out threads have: the supplier writing first, both sides on free-mail or
look-alike domains, 'Item:'/'품명:' labels over model numbers full of digits, packaging and container
phrases and stray currency tokens, tiered offers and option choices, dropped lines and changed quantities,
erratum mails, 만원 prices, net prices lowered without a percentage, European and Swiss number formats, lead
times from design approval / deposit / L/C, fixed dates versus lead times, 계약금/잔금/익월 말 payment, budgets
in 억 beside capacity classes, HTML-only mails in EUC-KR / ks_c_5601-1987 / ISO-2022-KR, inline answers under
quoted lines, forwards under disclaimers and long signatures. Nobody tunes the engine on this split: it is
scored separately (here and in bench/bench_extract.py) with the evaluation harness's exact SPEC §4 metric.
"""

from __future__ import annotations

import mailbox
import re
from collections import Counter

import pytest

from shared.events import KeyFacts
from tests.services.extract.rules.fixture_threads import (
    FIXTURES,
    HELDOUT,
    UNSEEN,
    assemble,
    expected,
    pairs,
    thread_dirs,
)

metrics = pytest.importorskip("services.trainer.evaluation.metrics")

UNSEEN_DIRS = thread_dirs(UNSEEN)

UNSEEN_F1_FLOOR = 0.80
"""Measured baseline before the generalisation work: key-fact F1 0.758 on the 42 unseen threads (ko 0.768,
en 0.750, mixed 0.753); 0.813 after the general rules tuned on the dev split, own fixtures and held-out threads
(corrections and line references, labelled and dashed line items, names without remarks or labels, sign-offs in
other languages, fuller company forms, Korean payment phrases, bare 억/만 amounts, aligned columns, Swiss
and European numbers, revised quotations dropping lines). The issue's goal is 0.90;
this floor only guards against regressions and does not pretend the goal is reached. Raise it when the engine
gets better, never tune the engine on these threads."""


def test_unseen_split_is_large_well_formed_and_in_three_languages() -> None:
    assert len(UNSEEN_DIRS) >= 40
    languages = Counter(expected(folder)["language"] for folder in UNSEEN_DIRS)
    assert set(languages) == {"ko", "en", "mixed"}
    assert languages["ko"] >= 0.3 * len(UNSEEN_DIRS) and languages["en"] >= 0.3 * len(UNSEEN_DIRS)
    assert languages["mixed"] >= 0.15 * len(UNSEEN_DIRS)
    others = {p.name for p in thread_dirs(FIXTURES)} | {p.name for p in thread_dirs(HELDOUT)}
    for folder in UNSEEN_DIRS:
        assert re.fullmatch(r"un\d{2}-[a-z0-9-]+", folder.name), folder.name
        assert folder.name not in others
        document = expected(folder)
        assert set(document) == {"expected", "vat_status", "incoterm_place", "language", "notes"}, folder.name
        KeyFacts.model_validate(document["expected"])
        assert document["vat_status"] in (None, "excluded", "included", "exempt"), folder.name
        assert document["notes"].strip(), folder.name


def test_every_unseen_mbox_assembles_into_one_thread() -> None:
    lengths = set()
    for folder in UNSEEN_DIRS:
        messages = list(mailbox.mbox(folder / "thread.mbox"))
        assert messages, folder.name
        assert all(m["Message-ID"] for m in messages), folder.name
        assert all(m["In-Reply-To"] and m["References"] for m in messages[1:]), folder.name
        assert len(assemble(folder).messages) == len(messages), folder.name
        lengths.add(len(messages))
    assert min(lengths) == 1 and max(lengths) >= 6


def test_unseen_key_fact_f1_with_the_spec_metric() -> None:
    scored = pairs(UNSEEN_DIRS)
    report = metrics.key_fact_f1(scored)
    per_thread = zip(scored, UNSEEN_DIRS, strict=True)
    worst = sorted((round(metrics.key_fact_f1([pair]).f1, 3), folder.name) for pair, folder in per_thread)[:10]
    fields = {name: round(f1, 3) for name, f1 in report.field_f1().items()}
    assert report.f1 >= UNSEEN_F1_FLOOR, f"unseen F1 {report.f1:.3f}; per field {fields}; weakest threads {worst}"
