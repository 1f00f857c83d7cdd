"""Readers per fact kind: one clause of one message → typed statements on the thread's tracks.

Each reader looks for one kind of fact (order quantities, prices, table cells, discounts,
thread-level terms, the buyer's request for a quote) and adds what it finds, with its source
span, to the item or field it belongs to. Who said it and whether it was a question or a
refusal is the same for every fact of a clause (:class:`ClauseReading`); the negotiation
resolver later decides which statement is the term (rules/negotiation.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.extract.rules import confidence, dates, items, terms
from services.extract.rules.money import Money, find_money
from services.extract.rules.negotiation import (
    Act,
    BudgetStatement,
    DiscountStatement,
    IncotermStatement,
    NamedPlace,
    PriceStatement,
    QuantityStatement,
    Source,
    Statement,
    TierStatement,
)
from services.extract.rules.quantities import Quantity, find_moq, find_quantities
from services.extract.rules.state import ItemState, MoneySeen, ThreadState
from services.extract.rules.tables import TableRow
from services.extract.rules.text import Clause, MessageView

StatementT = TypeVar("StatementT", bound=Statement)

REQUESTED_BY_OTHER = re.compile(
    r"(?:you (?:asked|requested|proposed|suggested|mentioned)|your (?:target|request|proposal|counter)"
    r"|요청하신|말씀하신|제안하신|희망하신)\s*$",
    re.I,
)
"""'the price you asked for, USD 9': the other party's number quoted back, not a statement of one's own."""

_TOTAL_AFTER = re.compile(r"\s?(?:in total|total|for the (?:whole|entire|total)|altogether|합계|총액)", re.I)
_NET_AFTER = re.compile(r"\s?(?:이|가)?\s?(?:되며|됩니다|로 조정|으로 조정|net|after discount)", re.I)
_AMOUNT_OFF = re.compile(
    r"\s?(?:(?:per|a|/)\s?(?:piece|pc|unit|item|set|kg)\s)?(?:off\b|discount\b|reduction\b|rebate\b)"
    r"|\s?(?:씩\s?)?(?:을|를)?\s?(?:할인|인하|빼|깎)",
    re.I,
)
"""Money followed by 'off' / '할인': a discount stated as an amount, not a price."""
_QUOTE_ALREADY_GIVEN = re.compile(r"quotation attached|견적서를? 첨부|as quoted|quoted price", re.I)
_REPLACED_BEFORE = re.compile(r"(?:\bnot|instead of|rather than|replacing)\s*$", re.I)
_REPLACED_AFTER = re.compile(r"\s?(?:이|가)\s?아니(?:라|고)|\s?대신")
"""'should be JPY 1,480, not JPY 1,840' / '1,840엔이 아니라': the value being replaced, not a statement of it."""
CORRECTION = re.compile(
    r"should (?:be|read|have been)|correct(?:ed|ion)\b|typo|typing error|erratum|errata|misprint"
    r"|정정|오기|잘못 (?:기재|표기|안내)|수정(?:된|하여|해서|드립니다|합니다)",
    re.I,
)
"""A clause correcting a value stated before: its value replaces the earlier one (Act.CORRECTION)."""
_LINE_REFERENCE = re.compile(
    r"(?:\bline|\bitem|\bposition|\bpos\.|품목|항목)\s?(?:no\.?\s?|#\s?)?(?P<n>\d{1,2})(?!\d)(?!\s?(?:%|[.,]\d))|(?P<k>\d{1,2})\s?번\s?(?:품목|항목)",
    re.I,
)
"""'Line 3 unit price …' / '2번 품목': a value about the thread's n-th line item."""


def target_item(mentions: list[tuple[items.ProductMention, ItemState]], position: int, end: int) -> ItemState | None:
    """The product a value at [position, end) is about: named right after it, else the last named before it."""
    if not mentions:
        return None
    following = [it for m, it in mentions if 0 <= m.start - end <= 12]
    if following:
        return following[0]
    preceding = [it for m, it in mentions if m.start <= position]
    return preceding[-1] if preceding else mentions[0][1]


@dataclass
class ClauseReading:
    """One clause being read: the message it is in, the products it names, and who says it how."""

    state: ThreadState
    view: MessageView
    clause: Clause
    mentions: list[tuple[items.ProductMention, ItemState]]
    table_row: TableRow | None
    negated: bool = field(init=False)

    def __post_init__(self) -> None:
        self.negated = bool(terms.REJECT.search(self.clause.text))

    @property
    def text(self) -> str:
        return self.clause.text

    @property
    def role(self) -> str:
        return self.view.role

    @property
    def order(self) -> int:
        return self.view.index

    def corrects(self) -> bool:
        """Whether the clause corrects a value the same party stated before ('should read USD 14.20')."""
        return bool(CORRECTION.search(self.text))

    def source(self, start: int, end: int) -> Source:
        """A span of the clause as a source in its message's text."""
        absolute_start, absolute_end = self.clause.start + start, self.clause.start + end
        view = self.view
        return Source(
            view.message_id, absolute_start, absolute_end, view.text[absolute_start:absolute_end], view.attachment
        )

    def statement(self, kind: type[StatementT], value: Any, sources: tuple[Source, ...], **details: Any) -> StatementT:
        """A statement of this clause's speaker (a buyer's question is a request, not a term), with how the
        value was found (the span of the value is the last source)."""
        if "found_in" not in details:
            details["found_in"] = confidence.found_in(
                self.text,
                sources[-1].start - self.clause.start if sources else 0,
                in_table=self.table_row is not None,
                in_attachment=self.view.attachment is not None,
            )
        return kind(
            value,
            role=self.role,
            order=self.order,
            sources=sources,
            question=self.clause.question and self.role != "supplier",
            negated=self.negated,
            **details,
        )

    def focus(self, position: int, end: int) -> ItemState | None:
        """The item a value is about: a product this clause names, a line it refers to by number, else the
        message's or the thread's only one."""
        state = self.state
        return (
            target_item(self.mentions, position, end)
            or self.referenced_line()
            or state.message_focus
            or (state.items[0] if len(state.items) == 1 else None)
        )

    def referenced_line(self) -> ItemState | None:
        """The line item the clause names by number ('line 3', '2번 품목'), when the thread has that many."""
        reference = _LINE_REFERENCE.search(self.text)
        if reference is None:
            return None
        number = int(reference.group("n") or reference.group("k"))
        return self.state.items[number - 1] if 1 <= number <= len(self.state.items) else None

    def item_at(self, position: int, end: int) -> ItemState | None:
        """Like :meth:`focus`, opening an unnamed item when the thread has none yet."""
        item = self.focus(position, end)
        if item is None and not self.state.items:
            item = self.state.item_for(None, None, self.order)
        return item


def read_clause(reading: ClauseReading) -> None:
    """Every fact kind of one clause, in the order their statements have always been recorded."""
    prose = reading.table_row is None
    quantities = find_quantities(reading.text) if prose else []
    tier_quantities = [q for q in quantities if q.kind == "tier"]
    money = find_money(reading.text) if prose else []
    for amount in money:
        reading.state.money_seen.append(
            MoneySeen(amount.currency, reading.role, reading.source(amount.start, amount.end))
        )
    read_order_quantities(reading, quantities)
    read_prices(reading, money, tier_quantities)
    if reading.table_row is not None and reading.mentions:
        read_table_row(reading, reading.table_row)
    read_discounts(reading, tier_quantities)
    read_thread_terms(reading)
    read_quote_request(reading)


def read_order_quantities(reading: ClauseReading, quantities: list[Quantity]) -> None:
    """'120 units of …' / '100개': the quantity of the item it is next to."""
    references = [m.span() for m in _LINE_REFERENCE.finditer(reading.text)]
    for quantity in quantities:
        if quantity.kind != "order" or any(start <= quantity.start < end for start, end in references):
            continue  # 'Line 3 unit price': a line number, not three units
        item = reading.item_at(quantity.start, quantity.end)
        if item is not None:
            item.quantity.add(
                reading.statement(
                    QuantityStatement,
                    quantity.value,
                    (reading.source(quantity.start, quantity.end),),
                    unit=quantity.unit,
                )
            )


def read_prices(reading: ClauseReading, money: list[Money], tier_quantities: list[Quantity]) -> None:
    """Amounts in prose: a budget, a tier price, an amount off, or a unit price (totals and fees are skipped)."""
    state, text = reading.state, reading.text
    for amount in money:
        if amount.value <= 0:
            state.warnings.append(f"ignored a zero price in {reading.view.message_id}")
            continue
        before = text[max(0, amount.start - 28) : amount.start]
        if terms.BUDGET.search(text[: amount.start]) or terms.BUDGET.search(text[amount.end : amount.end + 12]):
            if reading.role != "supplier":
                state.track("budget").add(
                    reading.statement(
                        BudgetStatement,
                        amount.value,
                        (reading.source(amount.start, amount.end),),
                        currency=amount.currency,
                    )
                )
            continue
        if terms.NOT_UNIT_PRICE.search(before) or _TOTAL_AFTER.match(text[amount.end :]):
            continue
        if REQUESTED_BY_OTHER.search(before):
            continue
        if _REPLACED_BEFORE.search(before[-12:]) or _REPLACED_AFTER.match(text, amount.end):
            continue
        if tier_quantities and reading.role == "supplier":
            _read_tier_price(reading, amount, tier_quantities)
            continue
        item = reading.item_at(amount.start, amount.end)
        if item is None:
            view = reading.view
            clause = reading.clause
            state.warnings.append(
                f"price {view.text[clause.start + amount.start : clause.start + amount.end]} not tied to a product"
            )
            continue
        if _AMOUNT_OFF.match(text, amount.end):
            _read_amount_off(reading, item, amount)
            continue
        item.price.add(_unit_price(reading, amount))


def _read_tier_price(reading: ClauseReading, amount: Money, tier_quantities: list[Quantity]) -> None:
    """'1–499 pcs: USD 4.20': a price for the quantity band written nearest to it."""
    tier = min(tier_quantities, key=lambda q: abs(q.start - amount.start))
    item = reading.item_at(amount.start, amount.end)
    if item is not None:
        item.tiers.append(
            reading.statement(
                TierStatement,
                amount.value,
                (reading.source(tier.start, tier.end), reading.source(amount.start, amount.end)),
                low=tier.low,
                high=tier.high,
                currency=amount.currency,
                unit=tier.unit,
            )
        )


def _read_amount_off(reading: ClauseReading, item: ItemState, amount: Money) -> None:
    """'USD 0.60 off per piece' / '대당 ₩50,000 할인': the net price is the price on the table minus the amount."""
    offered = [s for s in item.price.statements if s.role == "supplier" and not s.question and s.order <= reading.order]
    if not offered or reading.role != "supplier":
        return
    base = offered[-1]
    net = float(base.value) - amount.value
    if net <= 0:
        return
    item.price.add(
        reading.statement(
            PriceStatement,
            net,
            (*base.sources, reading.source(amount.start, amount.end)),
            currency=base.currency,
            list_price=False,
            net=True,
            position=base.position,
            per_unit=base.per_unit,
            found_in="inferred",  # the price on the table minus the amount: computed, never written
        )
    )


def _unit_price(reading: ClauseReading, amount: Money) -> PriceStatement:
    """A unit price, marked list price or net price by the words around it."""
    text = reading.text
    before = text[max(0, amount.start - 30) : amount.start]
    after = text[amount.end : amount.end + 20]
    listed = bool(terms.LIST_PRICE.search(before))
    net = bool(terms.NET_PRICE.search(before) or _NET_AFTER.match(after))
    return reading.statement(
        PriceStatement,
        amount.value,
        (reading.source(amount.start, amount.end),),
        currency=amount.currency,
        list_price=listed and not net,
        net=net,
        position=amount.start,
        per_unit=amount.per_unit,
        act=Act.CORRECTION if reading.corrects() else None,
    )


def read_table_row(reading: ClauseReading, row: TableRow) -> None:
    """A priced table row: its quantity, unit price (currency from the cell, else the header) and discount."""
    item = reading.mentions[0][1]
    if row.quantity:
        cell = row.quantity
        item.quantity.add(
            reading.statement(QuantityStatement, cell.value, (reading.source(cell.start, cell.end),), unit=cell.unit)
        )
    if row.unit_price and row.unit_price.value > 0:
        price = row.unit_price
        item.price.add(
            reading.statement(
                PriceStatement,
                price.value,
                (reading.source(price.start, price.end),),
                currency=price.currency or item.table_currency,
                net=row.discount is not None,
                position=price.start,
            )
        )
    if row.discount:
        discount = row.discount
        item.discount.add(
            reading.statement(
                DiscountStatement,
                discount.value,
                (reading.source(discount.start, discount.end),),
                position=discount.start,
            )
        )


_SCOPE_AFTER = re.compile(
    r"\s?(?:discount|rabatt|remise|descuento|sconto|reduction|off)?\s?(?:on|off|for|auf|sur)\s(?:the\s|all\s|your\s|our\s)?"
    r"(?P<w>[A-Za-z][\w-]*(?:\s[A-Za-z][\w-]*)?)",
    re.IGNORECASE,
)
_SCOPE_BEFORE = re.compile(r"(?P<w>[가-힣A-Za-z][\w-]*)(?:만|에\s?(?:대해|한해|한하여)|만\s?특별히)\s?(?:\S+\s?){0,2}$")
"""'5% discount on the pumps' / '3% off the gloves' / '엔드밀만 5% 할인': the words naming what a discount is on."""
_TOOLING_WORDS = frozenset({"tool", "tooling", "mould", "mold", "금형", "툴"})
_TOOLING_NAMES = re.compile(r"(?i)\b(?:die|mou?ld|tool(?:ing)?)\b|금형")


def _forms(word: str) -> set[str]:
    """A word and its singular ('gloves' → glove, 'boxes' → box), casefolded, to match a plural to a name."""
    word = word.casefold()
    forms = {word}
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.add(word[:-1])
        if word.endswith("es"):
            forms.add(word[:-2])
    return forms


def discount_scope(lines: list[ItemState], text: str, start: int, end: int) -> list[ItemState]:
    """The lines a discount names as its scope ('on the gloves', 'on the tool', '엔드밀만'): every line whose name
    shares a word with it; none when the discount names no line (then the usual focus decides)."""
    words: list[str] = []
    if (after := _SCOPE_AFTER.match(text, end)) is not None:
        words += after.group("w").split()
    if (before := _SCOPE_BEFORE.search(text[max(0, start - 24) : start])) is not None:
        words.append(before.group("w"))
    named = [w for w in words if len(w) >= 2]
    if not named:
        return []
    forms = set().union(*(_forms(w) for w in named))
    found = []
    for line in lines:
        name = line.best_name()[0] or ""
        name_forms = set().union(set(), *(_forms(w) for w in re.findall(r"[\w-]+", name)))
        if (
            (forms & _TOOLING_WORDS and _TOOLING_NAMES.search(name))
            or forms & name_forms
            or any(not w.isascii() and w in name for w in named)
        ):
            found.append(line)
    return found if len(found) < len(lines) or len(lines) == 1 else []


def read_discounts(reading: ClauseReading, tier_quantities: list[Quantity]) -> None:
    """'5% discount' / '10% 할인': for the product named, else the message's item, else every item so far."""
    state, text = reading.state, reading.text
    for found in terms.find_discounts(text):
        if REQUESTED_BY_OTHER.search(text[max(0, found.start - 28) : found.start]):
            continue
        threshold = next((q for q in tier_quantities if q.low), None)
        mention_target = target_item(reading.mentions, found.start, found.end)
        scoped = discount_scope(state.items, text, found.start, found.end)
        targets: list[ItemState]
        if scoped:
            targets = scoped
        elif (line := reading.referenced_line()) is not None:
            targets = [line]
        elif mention_target is not None:
            targets = [mention_target]
        elif state.message_focus is not None and len(state.items) <= 1:
            targets = [state.message_focus]
        elif state.items:
            targets = list(state.items)
        else:
            targets = [state.item_for(None, None, reading.order)]
        for item in targets:
            item.discount.add(
                reading.statement(
                    DiscountStatement,
                    float(found.value),
                    (reading.source(found.start, found.end),),
                    threshold=threshold.low if threshold else None,
                    position=found.start,
                )
            )


def read_thread_terms(reading: ClauseReading) -> None:
    """Terms of the whole deal: MOQ, lead time, shipping, payment, warranty, Incoterm, VAT, delivery date."""
    state, text = reading.state, reading.text
    moq = find_moq(text)
    if moq:
        state.track("moq").add(reading.statement(Statement, moq[0], (reading.source(moq[1], moq[2]),)))
    for name, finder in (
        ("delivery_lead_time_days", dates.find_lead_time),
        ("shipping_method", terms.find_shipping),
        ("payment_terms", terms.find_payment_terms),
        ("warranty_months", terms.find_warranty),
    ):
        found_value = finder(text)
        if found_value is not None:
            state.track(name).add(
                reading.statement(Statement, found_value.value, (reading.source(found_value.start, found_value.end),))
            )
    incoterm_found = terms.find_incoterm_and_place(text)
    if incoterm_found is not None:
        incoterm, place = incoterm_found
        state.track("incoterm").add(
            reading.statement(
                IncotermStatement,
                incoterm.value,
                (reading.source(incoterm.start, place.end if place else incoterm.end),),
                place=NamedPlace(str(place.value), reading.source(place.start, place.end)) if place else None,
            )
        )
    vat = terms.find_vat(text)
    if vat is not None:
        state.track("vat_status").add(reading.statement(Statement, vat.value, (reading.source(vat.start, vat.end),)))
    delivery = dates.find_delivery_date(text, reading.view.date)
    if delivery is not None:
        state.track("delivery_date").add(
            reading.statement(Statement, delivery.value, (reading.source(delivery.start, delivery.end),))
        )


def read_quote_request(reading: ClauseReading) -> None:
    """The buyer asking for a quote (not one saying a quotation is attached or quoting it back)."""
    if reading.role == "supplier":
        return
    match = terms.QUOTE_REQUEST.search(reading.text)
    if match is not None and not _QUOTE_ALREADY_GIVEN.search(reading.text):
        reading.state.quote_requested.append(reading.source(match.start(), match.end()))
