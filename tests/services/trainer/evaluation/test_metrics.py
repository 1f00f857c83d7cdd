"""Key-fact F1 (SPEC.md §4): each of TP/TN/FP/FN, alignment of items by product, and the aggregate."""

from __future__ import annotations

import pytest

from services.trainer.evaluation.metrics import (
    FIELD_NAMES,
    FieldCounts,
    align_items,
    compare,
    key_fact_f1,
    values_equal,
)
from shared.events import KeyFacts, LineItem, Party


def test_true_positive_when_prediction_equals_truth() -> None:
    assert compare(9500.0, 9500) == "tp"
    assert compare("30% T/T deposit, 70% before shipment", "30% t/t deposit,  70% before shipment.") == "tp"
    assert compare(False, False) == "tp"


def test_true_negative_when_both_empty() -> None:
    assert compare(None, None) == "tn"
    assert compare("", None) == "tn"
    assert compare([], None) == "tn"


def test_false_positive_when_prediction_differs_or_truth_is_empty() -> None:
    assert compare(10000, 9500) == "fp"
    assert compare("FOB", None) == "fp"
    assert compare(True, False) == "fp"


def test_false_negative_when_prediction_empty_and_truth_has_value() -> None:
    assert compare(None, 7) == "fn"
    assert compare("  ", "EXW") == "fn"


def test_false_is_a_value_not_empty() -> None:
    assert compare(None, False) == "fn"
    assert compare(False, None) == "fp"


def test_numbers_and_booleans_do_not_mix() -> None:
    assert not values_equal(1, True)
    assert values_equal(0.1 + 0.2, 0.3)


def test_f1_formula_and_all_true_negative_field() -> None:
    counts = FieldCounts(tp=3, tn=5, fp=1, fn=2)
    assert counts.f1 == pytest.approx(6 / 9)
    assert FieldCounts(tn=4).f1 == 1.0
    assert FieldCounts(fp=1).f1 == 0.0


def _talk_truth() -> KeyFacts:
    return KeyFacts(
        buyer=Party(name="김서연", company="한빛무역", email="seoyeon.kim@hanbit-trading.co.kr"),
        supplier=Party(name="박준호", company="대양부품", email="junho.park@daeyang-parts.com"),
        currency="KRW",
        items=[
            LineItem(product="X 제품", quantity=100, unit="개", unit_price=9500, currency="KRW", discount_percent=5)
        ],
        moq=50,
        delivery_lead_time_days=7,
        quote_requested=True,
    )


def test_perfect_prediction_scores_one() -> None:
    truth = _talk_truth()
    report = key_fact_f1([(truth, truth)])
    assert report.f1 == 1.0
    assert report.exact_threads == 1
    assert report.per_field["delivery_date"].tn == 1
    assert report.per_field["items.unit_price"].tp == 1
    assert set(report.per_field) == set(FIELD_NAMES)


def test_each_outcome_is_counted_per_field() -> None:
    truth = _talk_truth()
    predicted = truth.model_copy(
        update={
            "items": [LineItem(product="X 제품", quantity=100, unit="개", unit_price=10000, currency="KRW")],
            "moq": None,
            "incoterm": "FOB",
        }
    )
    report = key_fact_f1([(predicted, truth)])
    assert report.per_field["items.unit_price"].fp == 1  # the rejected/older price
    assert report.per_field["items.discount_percent"].fn == 1
    assert report.per_field["moq"].fn == 1
    assert report.per_field["incoterm"].fp == 1  # a value where truth is empty
    assert report.per_field["delivery_date"].tn == 1
    overall = report.overall
    assert (overall.fp, overall.fn) == (2, 2)
    assert report.f1 == pytest.approx(2 * overall.tp / (2 * overall.tp + 4))
    assert report.exact_threads == 0


def test_items_are_aligned_by_product_not_by_position() -> None:
    truth = [LineItem(product="Ball valve DN50", unit_price=21.8), LineItem(product="Gate valve DN80", unit_price=40)]
    predicted = [
        LineItem(product="gate valve dn80", unit_price=40),
        LineItem(product="Ball Valve DN50", unit_price=21.8),
    ]
    pairs = align_items(predicted, truth)
    assert all(p is not None and t is not None and p.unit_price == t.unit_price for p, t in pairs)


def test_unmatched_items_become_false_positives_and_negatives() -> None:
    truth = KeyFacts(items=[LineItem(product="Solar panel", quantity=10), LineItem(product="Inverter", quantity=2)])
    predicted = KeyFacts(items=[LineItem(product="Solar panel", quantity=10), LineItem(product="Cable", quantity=5)])
    report = key_fact_f1([(predicted, truth)])
    assert report.per_field["items.quantity"].tp == 1
    assert report.per_field["items.quantity"].fp == 1  # the invented Cable line
    assert report.per_field["items.quantity"].fn == 1  # the missed Inverter line
    assert report.per_field["items.product"].fn == 1


def test_to_dict_is_json_ready() -> None:
    data = key_fact_f1([(KeyFacts(), _talk_truth())]).to_dict()
    assert data["threads"] == 1
    assert data["per_field"]["moq"]["fn"] == 1
    assert 0.0 <= data["f1"] <= 1.0
