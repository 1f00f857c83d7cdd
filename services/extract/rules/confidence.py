"""A confidence per fact: how the rules engine found the value, and how many messages agree on it.

The score starts from how the value was written: a value after a field label or in a table row
under a header is laid out to be read by machines and people alike (0.9); an attachment's text is
the supplier's own document (0.85); a sentence needs the engine's reading of prose (0.7); a value
computed from other statements (a price with its discount applied, a currency voted from amounts)
was never written as such (0.55). Every further message stating the same value (or the supplier
accepting it) removes part of the remaining doubt; a term the supplier sets that only the buyer
stated, never confirmed, keeps a good part of it. The quote service sends facts below its
threshold to review (services/quote/plausible.py); the hybrid engine prefers, on a disagreement,
the reading with the higher score (services/extract/hybrid.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from services.extract.rules.negotiation import Decision, StatementT, Track, same_value
from shared.events import ConfidenceSource, FactConfidence

SOURCE_SCORES: Mapping[ConfidenceSource, float] = MappingProxyType(
    {"label": 0.9, "table": 0.9, "attachment": 0.85, "sentence": 0.7, "inferred": 0.55}
)
"""The score of a value stated once, by how it was found."""

DOUBT_KEPT_PER_AGREEING_MESSAGE = 0.6
"""Each further message stating the same value keeps this share of the remaining doubt (0.7 → 0.82 → 0.89)."""

BUYER_ONLY_FACTOR = 0.6
"""A term the supplier sets (price, payment, delivery) that only the buyer stated keeps this share of its score."""

_LABEL = re.compile(r"^\s*(?:[-*•·▪◦►■□▶▷●○◆◇※]\s*|\(?\d{1,2}[.)]\s*|[가-하][.)]\s*)?[^\s:：][^:：\n]{0,40}?\s?[:：]")
"""A clause that starts with a field label ('Unit price:', '결제 조건 :', '- Lead time:')."""


def found_in(clause_text: str, value_position: int, in_table: bool, in_attachment: bool) -> ConfidenceSource:
    """How a value at ``value_position`` of a clause was found: table row, label line, attachment or sentence."""
    if in_table:
        return "table"
    label = _LABEL.match(clause_text)
    if label is not None and value_position >= label.end():
        return "label"
    return "attachment" if in_attachment else "sentence"


def score(source: ConfidenceSource, messages_agreeing: int, buyer_only: bool = False) -> float:
    """The 0–1 score of a fact found ``source`` and stated by ``messages_agreeing`` messages."""
    doubt = (1 - SOURCE_SCORES[source]) * DOUBT_KEPT_PER_AGREEING_MESSAGE ** max(0, messages_agreeing - 1)
    value = 1 - doubt
    if buyer_only:
        value *= BUYER_ONLY_FACTOR
    return round(value, 3)


def fact_confidence(source: ConfidenceSource, messages_agreeing: int = 1, buyer_only: bool = False) -> FactConfidence:
    return FactConfidence(
        source=source, score=score(source, messages_agreeing, buyer_only), messages_agreeing=messages_agreeing
    )


def agreeing_messages(chosen: StatementT, track: Track[StatementT], decisions: Mapping[int, Decision]) -> set[int]:
    """Messages that state the chosen value (not negated), and supplier messages that accepted the buyer's."""
    orders = {s.order for s in track.statements if not s.negated and same_value(s.value, chosen.value)}
    orders.add(chosen.order)
    if chosen.role != "supplier":
        orders |= {order for order, decision in decisions.items() if decision == "accept" and order > chosen.order}
    return orders


def statement_confidence(
    chosen: StatementT, track: Track[StatementT], decisions: Mapping[int, Decision]
) -> FactConfidence:
    """The confidence of the statement a track resolved to."""
    agreeing = agreeing_messages(chosen, track, decisions)
    supplier_agrees = any(s.role == "supplier" and s.order in agreeing for s in track.statements) or any(
        order in decisions for order in agreeing
    )
    buyer_only = not track.buyer_decides and not supplier_agrees
    return fact_confidence(chosen.found_in, len(agreeing), buyer_only)


COMPUTED_FACTOR = 0.95
"""A value computed from several statements keeps this share of its weakest part's score."""


def combined(parts: Iterable[FactConfidence]) -> FactConfidence:
    """A value computed from several facts (a price with its discount applied): inferred, a little below the
    weakest part it was computed from."""
    listed = list(parts)
    if not listed:
        return fact_confidence("inferred", 0)
    return FactConfidence(
        source="inferred",
        score=round(min(p.score for p in listed) * COMPUTED_FACTOR, 3),
        messages_agreeing=min(p.messages_agreeing for p in listed),
    )
