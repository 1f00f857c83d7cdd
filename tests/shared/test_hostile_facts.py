"""Key facts never read a boolean as a number: a quote would print it as a real quantity or price."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import KeyFacts


@pytest.mark.parametrize(
    ("field", "document"),
    [
        ("items.0.quantity", {"items": [{"product": "v", "quantity": True, "unit_price": 5, "currency": "KRW"}]}),
        ("items.0.unit_price", {"items": [{"product": "v", "quantity": 2, "unit_price": True, "currency": "KRW"}]}),
        ("items.0.discount_percent", {"items": [{"product": "v", "discount_percent": False}]}),
        ("moq", {"moq": True}),
        ("budget", {"budget": False}),
        ("delivery_lead_time_days", {"delivery_lead_time_days": True}),
        ("warranty_months", {"warranty_months": True}),
    ],
)
def test_a_boolean_is_never_read_as_the_number_one_or_zero(field: str, document: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        KeyFacts.model_validate(document)
    assert [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()] == [field]
    assert "a boolean is not a number" in str(caught.value)


def test_numbers_written_as_strings_are_still_facts() -> None:
    facts = KeyFacts.model_validate({"items": [{"quantity": "2", "unit_price": "2.5"}], "warranty_months": "12"})
    assert facts.items[0].quantity == 2
    assert facts.items[0].unit_price == 2.5
    assert facts.warranty_months == 12
