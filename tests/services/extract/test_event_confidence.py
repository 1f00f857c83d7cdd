"""The confidence per fact travels on facts.extracted beside the facts; events without it still parse."""

from __future__ import annotations

import json

from services.extract.handlers import to_event
from services.extract.rules import RulesEngine
from shared.consumer import parse_event
from shared.events import FactsExtracted
from tests.services.extract.rules.test_confidence import ASK, SUPPLIER, message, thread


def test_the_rules_engine_s_confidence_is_on_the_event_and_round_trips() -> None:
    built = thread(ASK, message(1, SUPPLIER, "supplier", "Hi Mina,\nUnit price: USD 41.50\n"))
    event = to_event(built, RulesEngine().extract_sync(built))
    assert event.confidence is not None
    assert event.confidence.facts["items.0.unit_price"].source == "label"
    parsed = parse_event(FactsExtracted, event.model_dump_json().encode())
    assert parsed.confidence == event.confidence


def test_an_event_from_before_confidence_still_parses() -> None:
    older = json.loads(FactsExtracted(thread_id="t", facts={}).model_dump_json())  # type: ignore[arg-type]
    del older["confidence"]
    assert parse_event(FactsExtracted, json.dumps(older).encode()).confidence is None
