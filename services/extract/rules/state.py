"""What the engine has read so far: statements per item and per thread-level field, and the supplier's answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.extract.rules import items
from services.extract.rules.negotiation import (
    Decision,
    DiscountStatement,
    PriceStatement,
    QuantityStatement,
    Source,
    Statement,
    TierStatement,
    Track,
)
from shared.events import ConfidenceSource


@dataclass(frozen=True)
class NameMention:
    """One way the thread wrote an item's name."""

    name: str
    source: Source | None
    role: str
    order: int
    structured: bool
    found_in: ConfidenceSource = "sentence"
    """How the name was found: a table row, a label or list line, an attachment's text, a sentence."""

    @property
    def has_code(self) -> bool:
        return bool(re.search(r"[A-Za-z가-힣]\S*\d|\d\S*[A-Za-z]|\d{3,}", self.name))


@dataclass
class ItemState:
    """What the thread said about one product line."""

    name: str | None
    tokens: frozenset[str]
    name_source: Source | None
    first_order: int
    quantity: Track[QuantityStatement] = field(default_factory=lambda: Track(buyer_decides=True))
    price: Track[PriceStatement] = field(default_factory=lambda: Track(buyer_may_establish=False))
    discount: Track[DiscountStatement] = field(default_factory=lambda: Track(buyer_may_establish=False))
    tiers: list[TierStatement] = field(default_factory=list)
    table_currency: str | None = None
    names: list[NameMention] = field(default_factory=list)

    def best_name(self) -> tuple[str | None, Source | None]:
        """The name a careful reader would write: from a table, list or label line, with a model code, first written."""
        if not self.names:
            return self.name, self.name_source
        best = self.best_mention()
        return (best.name, best.source) if best is not None else (self.name, self.name_source)

    def best_mention(self) -> NameMention | None:
        """The mention :meth:`best_name` takes its name from; None when the line was never named in a message."""
        if not self.names:
            return None
        return max(self.names, key=lambda m: (m.structured, m.has_code, -m.order))

    def stated_anything(self) -> bool:
        """Whether the thread gave this line a quantity, price, discount or tier (else it was only named)."""
        return bool(self.quantity.statements or self.price.statements or self.discount.statements or self.tiers)


@dataclass(frozen=True)
class MoneySeen:
    """An amount's currency, who wrote it and where: the thread's currency when no price settles it."""

    currency: str
    role: str
    source: Source


@dataclass
class ThreadState:
    """Every statement of the thread, by field and item."""

    items: list[ItemState] = field(default_factory=list)
    fields: dict[str, Track[Statement]] = field(default_factory=dict)
    quote_requested: list[Source] = field(default_factory=list)
    buyer_seen: bool = False
    decisions: dict[int, Decision] = field(default_factory=dict)
    supplier_orders: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    money_seen: list[MoneySeen] = field(default_factory=list)
    message_focus: ItemState | None = None

    def track(self, name: str) -> Track[Statement]:
        if name not in self.fields:
            self.fields[name] = Track(buyer_decides=name == "budget")
        return self.fields[name]

    def resolved(self, track: Track[Statement] | None) -> Statement | None:
        """The statement on the table for a track, after the thread's last message."""
        return track.resolve(self.decisions, self.supplier_orders) if track is not None else None

    def item_for(
        self,
        name: str | None,
        source: Source | None,
        order: int,
        role: str = "unknown",
        structured: bool = False,
        found_in: ConfidenceSource = "sentence",
    ) -> ItemState:
        """The item a mention names (fuzzy: another wording of a known product stays one item), else a new one."""
        tokens = items.product_tokens(name) if name else frozenset()
        mention = NameMention(name, source, role, order, structured, found_in) if name else None
        if tokens:
            for item in self.items:
                if items.same_product(item.tokens, tokens) or any(
                    items.same_product(items.product_tokens(known.name), tokens) for known in item.names
                ):
                    if mention is not None:
                        item.names.append(mention)
                    return item
            for item in self.items:
                if item.name is None:
                    item.name, item.tokens, item.name_source = name, tokens, source
                    if mention is not None:
                        item.names.append(mention)
                    return item
        elif self.items:
            return self.items[-1]
        item = ItemState(name=name, tokens=tokens, name_source=source, first_order=order)
        if mention is not None:
            item.names.append(mention)
        self.items.append(item)
        return item
