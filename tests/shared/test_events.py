"""The event models are the public contract: versions, required keys, round trips."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.events import (
    ALL_EVENT_MODELS,
    EmailEvent,
    FactsExtracted,
    KeyFacts,
    LineItem,
    NormalizedThread,
    Party,
)
from tests.conftest import SPEC_EXAMPLE_FACTS

SPEC_EXAMPLE = SPEC_EXAMPLE_FACTS


def test_spec_example_round_trips_with_every_field_present() -> None:
    facts = KeyFacts.model_validate(SPEC_EXAMPLE)
    dumped = facts.model_dump(mode="json")
    assert set(dumped) == set(SPEC_EXAMPLE)
    assert dumped == json.loads(json.dumps(SPEC_EXAMPLE))


def test_empty_facts_are_all_null() -> None:
    dumped = KeyFacts().model_dump()
    assert dumped["items"] == []
    assert all(v is None for k, v in dumped.items() if k != "items")


@pytest.mark.parametrize(
    ("field", "value"),
    [("incoterm", "FOBB"), ("shipping_method", "rocket"), ("unexpected", 1)],
)
def test_invalid_facts_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        KeyFacts.model_validate({**SPEC_EXAMPLE, field: value})


def test_content_hash_is_stable_and_sensitive() -> None:
    a = KeyFacts.model_validate(SPEC_EXAMPLE)
    b = KeyFacts.model_validate(json.loads(json.dumps(SPEC_EXAMPLE)))
    assert a.content_hash() == b.content_hash()
    changed = a.model_copy(update={"moq": 60})
    assert changed.content_hash() != a.content_hash()


def test_every_event_has_a_version_and_described_fields() -> None:
    for model in ALL_EVENT_MODELS:
        assert model.model_fields["schema_version"].default == 1, model.__name__
        undocumented = [name for name, f in model.model_fields.items() if not f.description]
        assert not undocumented, f"{model.__name__}: {undocumented}"
    for model in (KeyFacts, Party, LineItem):
        assert all(f.description for f in model.model_fields.values()), model.__name__


def test_email_event_accepts_from_alias_and_rejects_other_versions() -> None:
    event = EmailEvent.model_validate({"from": "a@b.c", "message_id": "<x@y>", "subject": "hi"})
    assert event.from_ == "a@b.c"
    assert json.loads(event.model_dump_json(by_alias=True))["from"] == "a@b.c"
    with pytest.raises(ValidationError):
        EmailEvent.model_validate({"from": "a@b.c", "message_id": "x", "schema_version": 2})


def test_facts_extracted_keeps_extensions_beside_the_facts() -> None:
    event = FactsExtracted(thread_id="t-1", facts=KeyFacts.model_validate(SPEC_EXAMPLE), warnings=["w"])
    dumped = event.model_dump(mode="json")
    assert set(dumped["facts"]) == set(SPEC_EXAMPLE)
    assert dumped["warnings"] == ["w"]


def test_normalized_thread_requires_messages() -> None:
    with pytest.raises(ValidationError):
        NormalizedThread.model_validate({"thread_id": "t-1"})
