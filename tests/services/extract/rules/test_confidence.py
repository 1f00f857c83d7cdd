"""A confidence per fact from the rules engine: how it was found, and how many messages agree on it."""

from __future__ import annotations

from datetime import UTC, datetime

from services.extract.rules import RulesEngine
from services.extract.rules.confidence import SOURCE_SCORES, found_in, score
from shared.events import FactConfidences, NormalizedMessage, NormalizedThread

ENGINE = RulesEngine()
BUYER = ("Mina Park", "mina@buyer-co.com")
SUPPLIER = ("Tom Reed", "tom@valve-works.com")


def message(index: int, sender: tuple[str, str], role: str, text: str) -> NormalizedMessage:
    return NormalizedMessage(
        message_id=f"m{index}@test",
        sender_name=sender[0],
        sender_email=sender[1],
        role=role,  # type: ignore[arg-type]
        date=datetime(2026, 1, index + 1, tzinfo=UTC),
        text=text,
        content_hash=f"h{index}",
    )


def thread(*messages: NormalizedMessage) -> NormalizedThread:
    return NormalizedThread(thread_id="t", subject="RFQ ball valves", messages=list(messages))


def confidence_of(*messages: NormalizedMessage) -> FactConfidences:
    extraction = ENGINE.extract_sync(thread(*messages))
    assert extraction.confidence is not None
    return FactConfidences(facts=extraction.confidence)


ASK = message(0, BUYER, "buyer", "Hello,\nPlease quote 200 pcs of DN50 ball valves.\n")


def test_a_labelled_fact_scores_higher_than_one_found_in_a_sentence() -> None:
    labelled = confidence_of(
        ASK, message(1, SUPPLIER, "supplier", "Hi Mina,\nUnit price: USD 41.50\nPayment terms: T/T in advance\n")
    )
    in_prose = confidence_of(
        ASK,
        message(1, SUPPLIER, "supplier", "Hi Mina,\nWe can offer the valves at USD 41.50 each, T/T in advance.\n"),
    )
    for path in ("items.0.unit_price", "payment_terms"):
        assert labelled.facts[path].source == "label" and in_prose.facts[path].source == "sentence", path
        assert (labelled.score(path) or 0) > (in_prose.score(path) or 0), path


def test_agreement_across_messages_raises_the_score() -> None:
    once = confidence_of(ASK, message(1, SUPPLIER, "supplier", "Hi Mina,\nLead time is 30 days after order.\n"))
    twice = confidence_of(
        ASK,
        message(1, SUPPLIER, "supplier", "Hi Mina,\nLead time is 30 days after order.\n"),
        message(2, BUYER, "buyer", "Thanks Tom,\nSo delivery within 30 days, good.\n"),
    )
    assert once.facts["delivery_lead_time_days"].messages_agreeing == 1
    assert twice.facts["delivery_lead_time_days"].messages_agreeing == 2
    assert (twice.score("delivery_lead_time_days") or 0) > (once.score("delivery_lead_time_days") or 0)


def test_a_term_only_the_buyer_stated_is_doubted_and_a_computed_price_is_inferred() -> None:
    buyer_only = confidence_of(
        message(0, BUYER, "buyer", "Hello,\nPlease quote 200 pcs of DN50 valves.\nWe need delivery by 2026-03-20.\n")
    )
    assert (buyer_only.score("delivery_date") or 1) < score("sentence", 1)
    discounted = confidence_of(
        ASK, message(1, SUPPLIER, "supplier", "Hi Mina,\nUnit price: USD 40.00\nWe give a 5% discount on this order.\n")
    )
    assert discounted.facts["items.0.unit_price"].source == "inferred"


def test_how_a_value_was_found() -> None:
    assert found_in("Payment terms: T/T", 15, in_table=False, in_attachment=False) == "label"
    assert found_in("We pay by T/T", 10, in_table=False, in_attachment=False) == "sentence"
    assert found_in("Valve | 200 | 41.50", 14, in_table=True, in_attachment=True) == "table"
    assert found_in("We pay by T/T", 10, in_table=False, in_attachment=True) == "attachment"
    assert score("label", 1) == SOURCE_SCORES["label"] > score("sentence", 1) > score("inferred", 1)
    assert score("sentence", 3) > score("sentence", 2) > score("sentence", 1)
