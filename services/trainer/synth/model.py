"""The data of a synthetic thread: who writes, the true terms, the drafted messages and how each goes out.

Plain dataclasses without behaviour worth speaking of, shared by the builder (which fills them while it
plays a negotiation), the truth (which reads the terms) and the renderer (which turns drafts into mail).
Keeping them here lets those three depend on the data and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Literal

from services.trainer.synth.catalog import Industry

Mode = Literal["ko", "en", "mixed"]
Side = Literal["buyer", "supplier"]


@dataclass
class Person:
    """A correspondent: how they sign, write and quote."""

    name: str
    first: str
    last: str
    email: str
    company: str
    domain: str
    title: str
    dept: str
    company_en: str
    lang: str
    tz: timezone
    style: str
    client: str
    phone: str


@dataclass
class Item:
    """A line under negotiation, with its current (true) state."""

    product: str
    unit: str
    quantity: int
    list_price: float
    price: float
    discount: float | None = None
    tiers: list[tuple[int, float]] | None = None


@dataclass
class Terms:
    """The true terms as SPEC.md §1 defines them, kept in step with every sentence the builder writes.

    ``None`` means not stated. ``lead_in_weeks`` is how the lead time was last written (the truth is days).
    """

    currency: str
    items: list[Item]
    moq: float | None = None
    lead_days: int | None = None
    lead_in_weeks: bool = False
    delivery_date: date | None = None
    shipping: str | None = None
    incoterm: str | None = None
    payment: str | None = None
    warranty: int | None = None
    budget: float | None = None
    quote_requested: bool = False


@dataclass
class Block:
    """A paragraph or a table of a message body."""

    text: str | None = None
    table: list[list[str]] | None = None


@dataclass
class Draft:
    """One message before it becomes MIME: who writes, what, and the summary line it contributes."""

    side: Side
    title_key: str
    blocks: list[Block] = field(default_factory=list)
    gists: list[str] = field(default_factory=list)
    html_only: bool = False
    html_alternative: bool = False
    forwarded: bool = False
    attach_quote: bool = False


@dataclass(frozen=True)
class Forward:
    """A draft sent on as a forward: the writer's note above it and when the original was sent."""

    intro: str
    original_sent_at: datetime


@dataclass(frozen=True)
class Mail:
    """How one draft goes out, decided by the builder so that rendering needs no randomness.

    ``boundary_tokens`` holds one random token per multipart part of the message, in ``walk()`` order.
    """

    sent_at: datetime
    subject: str
    closing: str
    signature: str
    signature_delimiter: str
    message_id: str
    forward: Forward | None = None
    charset: str = "utf-8"
    transfer_encoding: str = "base64"
    boundary_tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class BuiltThread:
    """A played-out thread whose truth is final: the input of the renderer and of the expected.json payload."""

    case_id: str
    seed: int
    index: int
    mode: Mode
    industry: Industry
    kind: str
    buyer: Person
    supplier: Person
    terms: Terms
    drafts: list[Draft]
    mails: list[Mail]
    base_subject: str
    events: list[str]
    typos: int

    def person(self, side: Side) -> Person:
        """The writer of a draft of this side."""
        return self.buyer if side == "buyer" else self.supplier

    def other(self, side: Side) -> Person:
        """The reader of a draft of this side."""
        return self.supplier if side == "buyer" else self.buyer
