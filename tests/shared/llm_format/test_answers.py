"""The answer schemas: every key required, every fact nullable, refs inlined; parsing turns problems into reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.events import KeyFacts
from shared.llm_format.answers import (
    InvalidAnswer,
    facts_answer,
    facts_schema,
    parse_facts,
    parse_summary_tags,
    read_facts,
    summary_answer,
    summary_tags_schema,
)
from tests.services.extract.llm.conftest import TALK_FACTS


def _objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_objects(value))
    return found


def test_every_object_requires_all_its_keys_and_forbids_others() -> None:
    objects = _objects(facts_schema()) + _objects(summary_tags_schema())
    assert len(objects) >= 5  # facts, buyer, supplier, line item, summary answer
    for node in objects:
        assert node["required"] == list(node["properties"])
        assert node["additionalProperties"] is False


def test_every_fact_is_nullable_and_in_spec_order() -> None:
    facts = facts_schema()
    assert list(facts["properties"]) == list(KeyFacts.model_fields)
    for name, spec in facts["properties"].items():
        assert {"type": "null"} in spec["anyOf"], name


def test_no_refs_left_for_grammar_compilers() -> None:
    text = json.dumps(facts_schema())
    assert "$ref" not in text and "$defs" not in text


def test_enums_survive_for_constrained_fields() -> None:
    incoterm = facts_schema()["properties"]["incoterm"]["anyOf"][0]
    assert incoterm["enum"][0] == "EXW" and "DDP" in incoterm["enum"]


def test_parse_facts_accepts_the_talk_answer_fenced_and_null_items() -> None:
    text = facts_answer(KeyFacts.model_validate(TALK_FACTS))
    assert parse_facts(text) == KeyFacts.model_validate(TALK_FACTS)
    assert parse_facts("```json\n" + text + "\n```") == KeyFacts.model_validate(TALK_FACTS)
    assert parse_facts(json.dumps({**TALK_FACTS, "items": None})).items == []


def test_facts_answer_writes_whole_numbers_as_integers_and_keeps_fractions() -> None:
    facts = KeyFacts.model_validate(
        {**TALK_FACTS, "items": [{"product": "Valve", "quantity": 200.0, "unit_price": 24.45, "currency": "USD"}]}
    )
    text = facts_answer(facts)
    assert '"quantity": 200,' in text and '"unit_price": 24.45,' in text and ".0," not in text
    assert parse_facts(text) == facts


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"moq": ', "is not valid JSON"),
        ("[1, 2]", "is a JSON list, not an object"),
        ('{"moq": "fifty"}', "does not match the schema: moq"),
        ('{"shipping_method": "teleport"}', "does not match the schema: shipping_method"),
        ('{"unknown_field": 1}', "does not match the schema: unknown_field"),
    ],
)
def test_invalid_facts_explain_themselves(text: str, reason: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_facts(text)
    assert caught.value.reason.startswith(reason)


def test_summary_answer_round_trips_and_wrong_types_explain_themselves() -> None:
    assert parse_summary_tags(summary_answer("Jane asks, Tom offers.", ["valves"])) == (
        "Jane asks, Tom offers.",
        ["valves"],
    )
    with pytest.raises(InvalidAnswer, match="summary that is not a string"):
        parse_summary_tags('{"summary": 3, "tags": []}')
    with pytest.raises(InvalidAnswer, match="tags that are not a list of strings"):
        parse_summary_tags('{"summary": "s", "tags": [1]}')


def test_read_facts_finds_facts_in_chatter_bare_or_wrapped() -> None:
    facts = KeyFacts.model_validate(TALK_FACTS)
    bare = facts_answer(facts)
    assert read_facts(f"Sure! Here it is: {bare} Hope this helps.") == facts
    assert read_facts(json.dumps({"facts": facts.model_dump(mode="json"), "summary": "s", "tags": []})) == facts


@pytest.mark.parametrize("text", ["no json here", "{not json}", '{"unrelated": 1}', '{"incoterm": "XYZ"}', "[1, 2]"])
def test_read_facts_returns_none_for_unusable_answers(text: str) -> None:
    assert read_facts(text) is None
