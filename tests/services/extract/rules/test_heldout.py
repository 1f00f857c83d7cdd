"""Generalisation: the rules engine on hand-written threads in styles its author never wrote, scored by SPEC §4.

tests/fixtures/threads_heldout was written after the engine, before its patterns were read: 공문 letters,
terse phone replies, Outlook quoted-printable HTML in legacy charsets, bilingual mails, forwards, currency in
words, prices per dozen/box/kg, VAT and Incoterm places. The score is the evaluation harness's exact metric
(services/trainer/evaluation/metrics.py), not the lenient one of scoring.py.
"""

from __future__ import annotations

import pytest

from shared.events import KeyFacts
from tests.services.extract.rules.fixture_threads import FIXTURES, HELDOUT, thread_dirs
from tests.services.extract.rules.fixture_threads import expected as _expected
from tests.services.extract.rules.fixture_threads import extract as _extract

metrics = pytest.importorskip("services.trainer.evaluation.metrics")

HELDOUT_DIRS = thread_dirs(HELDOUT)

HELDOUT_F1_REACHED = 0.93
"""Measured 0.797 before the generalisation work, 0.938 after (29 threads); the issue's target is 0.90."""


def test_heldout_set_is_large_and_in_both_languages() -> None:
    assert len(HELDOUT_DIRS) >= 25
    languages = {_expected(folder)["language"] for folder in HELDOUT_DIRS}
    assert {"ko", "en", "mixed"} <= languages
    for folder in HELDOUT_DIRS:
        document = _expected(folder)
        KeyFacts.model_validate(document["expected"])
        assert {"vat_status", "incoterm_place", "language"} <= set(document)


def test_heldout_key_fact_f1_with_the_spec_metric() -> None:
    pairs = [(_extract(f).facts, KeyFacts.model_validate(_expected(f)["expected"])) for f in HELDOUT_DIRS]
    report = metrics.key_fact_f1(pairs)
    scored = zip(pairs, HELDOUT_DIRS, strict=True)
    worst = sorted((metrics.key_fact_f1([pair]).f1, folder.name) for pair, folder in scored)[:5]
    assert report.f1 >= HELDOUT_F1_REACHED, f"held-out F1 {report.f1:.3f}; weakest threads {worst}"


def test_own_fixtures_still_score_with_the_spec_metric() -> None:
    folders = thread_dirs(FIXTURES)
    pairs = [(_extract(f).facts, KeyFacts.model_validate(_expected(f)["expected"])) for f in folders]
    assert metrics.key_fact_f1(pairs).f1 >= 0.95


def test_heldout_vat_status_and_incoterm_place() -> None:
    vat_right = place_right = 0
    for folder in HELDOUT_DIRS:
        result, document = _extract(folder), _expected(folder)
        vat_right += result.vat_status == document["vat_status"]
        place_right += result.incoterm_place == document["incoterm_place"]
        fields = {e.field for e in result.evidence}
        if result.vat_status is not None:
            assert "vat_status" in fields, folder.name
        if result.incoterm_place is not None:
            assert "incoterm_place" in fields, folder.name
    assert vat_right / len(HELDOUT_DIRS) >= 0.95
    assert place_right / len(HELDOUT_DIRS) >= 0.95
