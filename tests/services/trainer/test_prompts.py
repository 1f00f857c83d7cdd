"""The adapter's task prompts and reading key facts back from whatever the model answers."""

from __future__ import annotations

import json

from services.trainer.training.prompts import (
    EXTRACTION_INSTRUCTION,
    extraction_messages,
    facts_json,
    parse_facts,
    render_thread,
    summary_tags_messages,
)
from tests.services.trainer.corpus import make_thread


def test_extraction_conversation_is_instruction_thread_and_facts_json() -> None:
    thread, facts = make_thread(0)
    messages = extraction_messages(thread, facts)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"].startswith(EXTRACTION_INSTRUCTION)
    assert "김서연" in messages[0]["content"] and "견적" in messages[0]["content"]
    assert json.loads(messages[1]["content"]) == facts.model_dump(mode="json")
    assert extraction_messages(thread) == messages[:1]


def test_summary_conversation_answers_with_summary_and_tags() -> None:
    thread, _ = make_thread(1)
    answer = json.loads(summary_tags_messages(thread, "Jane asks, Tom offers.", ["valves"])[1]["content"])
    assert answer == {"summary": "Jane asks, Tom offers.", "tags": ["valves"]}


def test_thread_rendering_names_roles_and_senders() -> None:
    thread, _ = make_thread(1)
    text = render_thread(thread)
    assert "buyer · Jane Doe <jane@acme.example>, Acme Co." in text
    assert "supplier · Tom Lee" in text


def test_parse_facts_reads_bare_wrapped_and_fenced_answers() -> None:
    _, facts = make_thread(3)
    bare = facts_json(facts)
    assert parse_facts(bare) == facts
    assert parse_facts(f"```json\n{bare}\n```") == facts
    assert parse_facts(json.dumps({"facts": facts.model_dump(mode="json"), "summary": "s", "tags": []})) == facts


def test_parse_facts_returns_none_for_unusable_answers() -> None:
    assert parse_facts("no json here") is None
    assert parse_facts("{not json}") is None
    assert parse_facts('{"unrelated": 1}') is None
    assert parse_facts('{"incoterm": "XYZ"}') is None
    assert parse_facts("[1, 2]") is None
