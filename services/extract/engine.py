"""The interface every extraction engine implements (rules, llm), and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from shared.events import Evidence, KeyFacts, NormalizedThread, VatStatus


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
    engine: Literal["rules", "llm"] = "rules"
    model: str | None = None
    adapter_id: str | None = None


class ExtractionEngine(Protocol):
    """Turns a normalized thread into an :class:`Extraction`. Must not raise on odd text."""

    name: str

    async def extract(self, thread: NormalizedThread) -> Extraction: ...
