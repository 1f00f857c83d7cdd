"""The answer schema: every key required, every fact nullable, refs inlined; parsing turns problems into reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.extract.llm.schema import InvalidAnswer, answer_schema, facts_schema, parse_answer, parse_facts
from shared.events import KeyFacts
from tests.services.extract.llm.conftest import TALK_FACTS, answer_json


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
    objects = _objects(answer_schema())
    assert len(objects) >= 5  # answer, facts, buyer, supplier, line item
    for node in objects:
        assert node["required"] == list(node["properties"])
        assert node["additionalProperties"] is False


def test_every_fact_is_nullable_and_in_spec_order() -> None:
    facts = facts_schema()
    assert list(facts["properties"]) == list(KeyFacts.model_fields)
    for name, spec in facts["properties"].items():
        assert {"type": "null"} in spec["anyOf"], name


def test_no_refs_left_for_grammar_compilers() -> None:
    text = json.dumps(answer_schema())
    assert "$ref" not in text and "$defs" not in text


def test_enums_survive_for_constrained_fields() -> None:
    incoterm = facts_schema()["properties"]["incoterm"]["anyOf"][0]
    assert incoterm["enum"][0] == "EXW" and "DDP" in incoterm["enum"]


def test_parse_answer_accepts_the_talk_answer_and_null_items() -> None:
    assert parse_answer(answer_json()).facts == KeyFacts.model_validate(TALK_FACTS)
    facts = {**TALK_FACTS, "items": None}
    assert parse_answer(answer_json(facts)).facts.items == []
    assert parse_answer("```json\n" + answer_json() + "\n```").summary


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"facts": {', "is not valid JSON"),
        ("[1, 2]", "is a JSON list, not an object"),
        ('{"facts": {"moq": "fifty"}}', "does not match the schema: facts.moq"),
        ('{"facts": {"shipping_method": "teleport"}}', "does not match the schema: facts.shipping_method"),
    ],
)
def test_invalid_answers_explain_themselves(text: str, reason: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(text)
    assert caught.value.reason.startswith(reason)


def test_parse_facts_for_the_adapter_task() -> None:
    assert parse_facts(json.dumps(TALK_FACTS, ensure_ascii=False)).moq == 50
    with pytest.raises(InvalidAnswer):
        parse_facts('{"unknown_field": 1}')
