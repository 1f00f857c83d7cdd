"""Offers and counter-offers by party and message, resolved to the latest terms on the table.

A supplier statement sets a term. A buyer statement sets a term only where the
field is the buyer's to decide (quantity, a requirement nobody has answered yet);
otherwise it is a proposal that becomes a term only when the supplier's next
message accepts it (or meets it halfway). A rejected or unanswered counter-offer
is not a term (SPEC.md §1).

Statements are typed: a value with who said it, in which message, and the details of its
kind (a price's currency, a quantity's unit, a tier's bounds, …). The resolver reads each
message as moves (:class:`Act`) and applies them to what is on the table, so the rules of
the negotiation are one small state machine (:class:`Table`) instead of flags spread over
the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from shared.events import ConfidenceSource

Decision = Literal["accept", "reject", "halfway"]
"""What a supplier message answers to the buyer's pending proposal (rules/terms.py: ACCEPT, REJECT, HALFWAY)."""


class Act(StrEnum):
    """What a move in the negotiation does to a term."""

    OFFER = "offer"
    """A party puts a value on the table: the supplier's offer, or a term the buyer may set alone."""
    COUNTER_OFFER = "counter_offer"
    """The buyer proposes another value; it waits for the supplier's answer."""
    REQUEST = "request"
    """The buyer asks for a value (a question); like a counter-offer, it cannot set a term by itself."""
    ACCEPTANCE = "acceptance"
    """The supplier agrees to the pending proposal: it becomes the term."""
    REJECTION = "rejection"
    """The supplier declines the pending proposal (in words, or by restating it negated): the term stays."""
    HALFWAY = "halfway"
    """The supplier meets the pending proposal halfway: the term is the mean of the two numbers."""
    CORRECTION = "correction"
    """A party corrects a value it stated earlier: the corrected value takes the earlier one's place."""
    OPTION_CHOICE = "option_choice"
    """The buyer picks one of the options the supplier offered: the supplier's own value, so it is the term."""
    ITEM_DROPPED = "item_dropped"
    """The term (or the line it belongs to) is taken off the table."""


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
    act: Act | None = None
    """The move when a reader recognised it (a correction, an option chosen, an item dropped); else inferred."""
    found_in: ConfidenceSource = "sentence"
    """How the value was found (label, table, sentence, attachment, inferred): where its confidence starts."""


@dataclass
class QuantityStatement(Statement):
    """An order quantity."""

    unit: str | None = None


@dataclass
class PriceStatement(Statement):
    """A unit price, and how it stands to a discount (list price before it, net price after it)."""

    currency: str | None = None
    list_price: bool = False
    """Written as the list / regular price: a discount still applies."""
    net: bool = False
    """Written as the price after the discount: the discount must not be applied again."""
    position: int = 0
    """Offset in its clause, to tell a price written after its discount from one written before."""
    per_unit: bool = False


@dataclass
class DiscountStatement(Statement):
    """A discount percentage, valid from ``threshold`` units on when the statement sets one."""

    threshold: float | None = None
    position: int = 0


@dataclass
class TierStatement(Statement):
    """A unit price for a quantity band (``low``–``high``; ``high`` None means and above)."""

    low: float | None = None
    high: float | None = None
    currency: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class NamedPlace:
    """An Incoterm's named place and where it was read."""

    name: str
    source: Source


@dataclass
class IncotermStatement(Statement):
    """An Incoterms code, with the named place written beside it."""

    place: NamedPlace | None = None


@dataclass
class BudgetStatement(Statement):
    """The buyer's budget (value) and its currency."""

    currency: str | None = None


StatementT = TypeVar("StatementT", bound=Statement)


@dataclass(frozen=True)
class Move(Generic[StatementT]):
    """One act of one message on one term (``statement`` None for an answer without a value)."""

    act: Act
    order: int
    statement: StatementT | None = None


@dataclass
class Table(Generic[StatementT]):
    """What is on the table for one term: the agreed value and the proposal waiting for an answer."""

    current: StatementT | None = None
    pending: StatementT | None = None

    def apply(self, move: Move[StatementT]) -> None:
        """The negotiation's rules, one act at a time."""
        act, statement = move.act, move.statement
        if act is Act.CORRECTION and self.pending is not None and statement is not None:
            if self.pending.role == statement.role:  # a party correcting the proposal it is waiting on
                self.pending = statement
            else:
                self.current, self.pending = statement, None
        elif act in (Act.OFFER, Act.OPTION_CHOICE, Act.CORRECTION):
            self.current, self.pending = statement, None
        elif act in (Act.COUNTER_OFFER, Act.REQUEST):
            self.pending = statement
        elif act is Act.ACCEPTANCE:
            self.current, self.pending = self.pending, None
        elif act is Act.REJECTION:
            self.pending = None
        elif act is Act.HALFWAY:
            self._meet_halfway(move.order)
        elif act is Act.ITEM_DROPPED:
            self.current = self.pending = None

    def _meet_halfway(self, order: int) -> None:
        current, pending = self.current, self.pending
        if current is None or pending is None or not (_numeric(current.value) and _numeric(pending.value)):
            return
        middle = (float(current.value) + float(pending.value)) / 2
        # The supplier's own number: a statement of the term's kind with none of either side's details.
        self.current = type(current)(middle, "supplier", order, current.sources + pending.sources, found_in="inferred")
        self.pending = None


_ANSWERS: dict[Decision, Act] = {"accept": Act.ACCEPTANCE, "reject": Act.REJECTION, "halfway": Act.HALFWAY}


@dataclass
class Track(Generic[StatementT]):
    """Every statement made about one field, in thread order."""

    statements: list[StatementT] = field(default_factory=list)
    buyer_decides: bool = False
    """The buyer's to decide (quantity, budget): any statement sets the term, no answer needed."""
    buyer_may_establish: bool = True
    """A buyer statement sets the term while nobody has stated one (a requirement), not a price."""

    def add(self, statement: StatementT) -> None:
        self.statements.append(statement)

    def resolve(self, supplier_decisions: dict[int, Decision], supplier_orders: set[int]) -> StatementT | None:
        """The statement on the table after the last message."""
        by_order: dict[int, list[StatementT]] = {}
        for statement in self.statements:
            by_order.setdefault(statement.order, []).append(statement)
        table: Table[StatementT] = Table()
        for order in sorted(set(by_order) | supplier_orders):
            for move in self._moves(order, by_order.get(order, []), table, supplier_decisions):
                table.apply(move)
        return table.current

    def _moves(
        self,
        order: int,
        stated: list[StatementT],
        table: Table[StatementT],
        supplier_decisions: dict[int, Decision],
    ) -> Iterator[Move[StatementT]]:
        """What one message does to this term, given what is on the table before it."""
        explicit = [s for s in stated if s.act is not None]
        if explicit:
            yield Move(explicit[-1].act or Act.OFFER, order, explicit[-1])
            return
        if self.buyer_decides and stated:
            yield Move(Act.OFFER, order, stated[-1])
            return
        supplier = [s for s in stated if s.role == "supplier"]
        buyer = [s for s in stated if s.role != "supplier"]
        if supplier:
            pending = table.pending
            # 'we cannot do 9,000': the supplier restating the buyer's number, negated, declines it
            real = [
                s for s in supplier if not (s.negated and pending is not None and same_value(s.value, pending.value))
            ]
            yield Move(Act.OFFER, order, real[-1]) if real else Move(Act.REJECTION, order)
            return
        if buyer:
            proposal = buyer[-1]
            if table.current is None and self.buyer_may_establish and not proposal.question:
                asked_before = table.pending
                yield Move(Act.OFFER, order, proposal)
                if asked_before is not None:  # a requirement stated does not withdraw a question still open
                    yield Move(Act.REQUEST, order, asked_before)
            elif table.current is None or not same_value(proposal.value, table.current.value):
                yield Move(Act.REQUEST if proposal.question else Act.COUNTER_OFFER, order, proposal)
            return
        decision = supplier_decisions.get(order)
        if table.pending is not None and decision is not None:
            yield Move(_ANSWERS[decision], order)

    def last_supplier(self) -> StatementT | None:
        supplier = [s for s in self.statements if s.role == "supplier"]
        return supplier[-1] if supplier else None


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_value(a: Any, b: Any) -> bool:
    """Two stated values are the same term (numbers within float noise)."""
    if _numeric(a) and _numeric(b):
        return abs(float(a) - float(b)) < 1e-9 * max(1.0, abs(float(a)))
    return bool(a == b)
