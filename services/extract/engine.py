"""The interface every extraction engine implements (rules, llm, hybrid), and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shared.events import (
    ITEM_FIELDS,
    PARTY_FIELDS,
    SCALAR_FIELDS,
    Evidence,
    FactConfidence,
    KeyFacts,
    NormalizedThread,
    VatStatus,
)

Source = Literal["rules", "llm"]


@dataclass
class Extraction:
    """What an engine found in one thread: SPEC key facts plus everything beside them."""

    facts: KeyFacts
    vat_status: VatStatus | None = None
    incoterm_place: str | None = None
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    needs_review: bool = False
    engine: Literal["rules", "llm", "hybrid"] = "rules"
    model: str | None = None
    adapter_id: str | None = None
    value_sources: dict[str, Source] = field(default_factory=dict)
    """Engine behind each non-null fact (dotted path); empty means all from ``engine``."""
    confidence: dict[str, FactConfidence] | None = None
    """A confidence per fact (dotted path) when the engine scores its facts (rules, hybrid); None otherwise."""

    def sources(self) -> dict[str, Source]:
        """Engine behind each non-null fact, by dotted path."""
        if self.value_sources:
            return dict(self.value_sources)
        return sources_of(self.facts, "llm" if self.engine == "llm" else "rules")


def present(value: Any) -> bool:
    """A stated value (not null, not empty)."""
    return value is not None and value != "" and value != []


def sources_of(facts: KeyFacts, source: Source) -> dict[str, Source]:
    """Every non-null fact of ``facts`` (dotted path) credited to one engine."""
    data = facts.model_dump(mode="json")
    found: dict[str, Source] = {}
    for name in SCALAR_FIELDS:
        if present(data[name]):
            found[name] = source
    for side in ("buyer", "supplier"):
        for name in PARTY_FIELDS:
            if present((data.get(side) or {}).get(name)):
                found[f"{side}.{name}"] = source
    for index, item in enumerate(data["items"]):
        for name in ITEM_FIELDS:
            if present(item.get(name)):
                found[f"items.{index}.{name}"] = source
    return found


class ExtractionEngine(Protocol):
    """Turns a normalized thread into an :class:`Extraction`. Must not raise on odd text."""

    name: str

    async def extract(self, thread: NormalizedThread) -> Extraction: ...
