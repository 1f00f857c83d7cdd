"""Offers and counter-offers by party and message, resolved to the latest terms on the table.

A supplier statement sets a term. A buyer statement sets a term only where the
field is the buyer's to decide (quantity, a requirement nobody has answered yet);
otherwise it is a proposal that becomes a term only when the supplier's next
message accepts it (or meets it halfway). A rejected or unanswered counter-offer
is not a term (SPEC.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["accept", "reject", "halfway"]


@dataclass(frozen=True)
class Source:
    """Where a value was read: message, span in its text, and the quoted text."""

    message_id: str
    start: int
    end: int
    text: str
    attachment: int | None = None
    """Index of the message's attachment part the span is in; None for the message's own text."""


@dataclass
class Statement:
    """One party stating a value for a field in one message."""

    value: Any
    role: str
    order: int
    sources: tuple[Source, ...]
    question: bool = False
    negated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Track:
    """Every statement made about one field, in thread order."""

    statements: list[Statement] = field(default_factory=list)
    buyer_decides: bool = False
    buyer_may_establish: bool = True

    def add(self, statement: Statement) -> None:
        self.statements.append(statement)

    def resolve(self, supplier_decisions: dict[int, Decision], supplier_orders: set[int]) -> Statement | None:
        """The statement on the table after the last message."""
        by_order: dict[int, list[Statement]] = {}
        for statement in self.statements:
            by_order.setdefault(statement.order, []).append(statement)
        current: Statement | None = None
        pending: Statement | None = None
        for order in sorted(set(by_order) | supplier_orders):
            stated = by_order.get(order, [])
            supplier = [s for s in stated if s.role == "supplier"]
            buyer = [s for s in stated if s.role != "supplier"]
            if self.buyer_decides and stated:
                current, pending = stated[-1], None
                continue
            if supplier:
                real = [
                    s for s in supplier if not (s.negated and pending is not None and _same(s.value, pending.value))
                ]
                if real:
                    current, pending = real[-1], None
                else:
                    pending = None
                continue
            if buyer:
                proposal = buyer[-1]
                if current is None and self.buyer_may_establish and not proposal.question:
                    current = proposal
                elif current is None or not _same(proposal.value, current.value):
                    pending = proposal
                continue
            if order in supplier_orders and pending is not None:
                decision = supplier_decisions.get(order)
                if decision == "accept":
                    current, pending = pending, None
                elif decision == "reject":
                    pending = None
                elif (
                    decision == "halfway"
                    and current is not None
                    and _numeric(current.value)
                    and _numeric(pending.value)
                ):
                    middle = (float(current.value) + float(pending.value)) / 2
                    current = Statement(middle, "supplier", order, current.sources + pending.sources)
                    pending = None
        return current

    def last_supplier(self) -> Statement | None:
        supplier = [s for s in self.statements if s.role == "supplier"]
        return supplier[-1] if supplier else None


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    if _numeric(a) and _numeric(b):
        return abs(float(a) - float(b)) < 1e-9 * max(1.0, abs(float(a)))
    return bool(a == b)
