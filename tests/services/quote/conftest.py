"""Fixtures of the quote tests: the fixture folder, facts loaders and a fixed slot and date."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from services.quote.numbering import QuoteSlot
from shared.events import FactsExtracted

QUOTE_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "quote"
ISSUE_DATE = date(2026, 3, 3)
SLOT = QuoteSlot(quote_number="Q-2026-000123", revision=1)


def load_event(name: str) -> FactsExtracted:
    return FactsExtracted.model_validate(json.loads((QUOTE_FIXTURES / name).read_text(encoding="utf-8")))


@pytest.fixture
def talk_event() -> FactsExtracted:
    return load_event("talk_ko.facts.json")


@pytest.fixture
def valves_event() -> FactsExtracted:
    return load_event("valves_en.facts.json")
