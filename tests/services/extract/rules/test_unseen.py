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

import pytest

from tests.services.extract.rules.fixture_threads import (
    UNSEEN,
    check_mboxes_assemble,
    check_split_layout,
    f1_report,
    thread_dirs,
)

pytest.importorskip("services.trainer.evaluation.metrics")

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
    check_split_layout(UNSEEN_DIRS, r"un\d{2}-[a-z0-9-]+")


def test_every_unseen_mbox_assembles_into_one_thread() -> None:
    check_mboxes_assemble(UNSEEN_DIRS)


def test_unseen_key_fact_f1_with_the_spec_metric() -> None:
    f1, report = f1_report(UNSEEN_DIRS)
    assert f1 >= UNSEEN_F1_FLOOR, f"unseen {report}"
