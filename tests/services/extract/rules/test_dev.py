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

import pytest

from tests.services.extract.rules.fixture_threads import (
    DEV,
    check_mboxes_assemble,
    check_split_layout,
    f1_report,
    thread_dirs,
)

pytest.importorskip("services.trainer.evaluation.metrics")

DEV_DIRS = thread_dirs(DEV)

DEV_F1_FLOOR = 0.79
"""Measured when the split was written, before any tuning on it: key-fact F1 0.723 on the 42 dev threads with the
rules engine of commit bc3dd79 (ko 0.693, en 0.743, mixed 0.746), 0.726 with that of 64be73a (ko 0.693, en 0.749,
mixed 0.752); weakest fields items.discount_percent 0.25, items.product 0.40, items.unit_price 0.47,
items.quantity 0.53-0.54; 0.817 after the general rules tuned on it (3f345f9, e36a217). The floor sits about 0.03
below and only guards against regressions: raise it as tuning on this split improves the engine (threads_unseen
is never tuned on)."""


def test_dev_split_is_large_well_formed_and_in_three_languages() -> None:
    check_split_layout(DEV_DIRS, r"dv\d{2}-[a-z0-9-]+")


def test_every_dev_mbox_assembles_into_one_thread() -> None:
    check_mboxes_assemble(DEV_DIRS)


def test_dev_key_fact_f1_with_the_spec_metric() -> None:
    f1, report = f1_report(DEV_DIRS)
    assert f1 >= DEV_F1_FLOOR, f"dev {report}"
