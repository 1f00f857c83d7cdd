"""The rules engine: messages → clauses → statements per field → the latest terms (SPEC.md §1)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from services.extract.engine import Extraction
from services.extract.rules import attachments, dates, items, tables, terms
from services.extract.rules.money import Money, find_money
from services.extract.rules.negotiation import Decision, Source, Statement, Track
from services.extract.rules.numbers import clean_number
from services.extract.rules.parties import PartyFacts, build_party, infer_roles, party_key
from services.extract.rules.quantities import find_moq, find_quantities
from services.extract.rules.text import Clause, MessageView, find_body_end, split_clauses, split_inline_forwards
from shared.events import (
    SCALAR_FIELDS,
    Evidence,
    KeyFacts,
    LineItem,
    NormalizedMessage,
    NormalizedThread,
    Party,
    VatStatus,
)

_PRODUCT_LABEL = re.compile(
    r"^\s*(?:(?:[-*•·▪◦►■□▶▷●○◆◇※]|\(?\d{1,2}[.)]|[가-하][.)])\s*)?"
    r"(?:product|item|article|goods|model|description|품명|제품명|품목|상품명|모델|품명\s?및\s?수량)\s?[:：]\s?(?P<p>[^,;\n]+?)\s*$",
    re.I,
)
_REQUESTED_BY_OTHER = re.compile(
    r"(?:you (?:asked|requested|proposed|suggested|mentioned)|your (?:target|request|proposal|counter)"
    r"|요청하신|말씀하신|제안하신|희망하신)\s*$",
    re.I,
)


@dataclass
class ItemState:
    """What the thread said about one product line."""

    name: str | None
    tokens: frozenset[str]
    name_source: Source | None
    first_order: int
    quantity: Track = field(default_factory=lambda: Track(buyer_decides=True))
    price: Track = field(default_factory=lambda: Track(buyer_may_establish=False))
    discount: Track = field(default_factory=lambda: Track(buyer_may_establish=False))
    tiers: list[Statement] = field(default_factory=list)
    table_currency: str | None = None
    names: list[NameMention] = field(default_factory=list)

    def best_name(self) -> tuple[str | None, Source | None]:
        """The name a careful reader would write: from a table, list or label line, with a model code, first written."""
        if not self.names:
            return self.name, self.name_source
        best = max(self.names, key=lambda m: (m.structured, m.has_code, -m.order))
        return best.name, best.source


@dataclass(frozen=True)
class NameMention:
    """One way the thread wrote an item's name."""

    name: str
    source: Source | None
    role: str
    order: int
    structured: bool

    @property
    def has_code(self) -> bool:
        return bool(re.search(r"[A-Za-z가-힣]\S*\d|\d\S*[A-Za-z]|\d{3,}", self.name))


@dataclass
class ThreadState:
    """Every statement of the thread, by field and item."""

    items: list[ItemState] = field(default_factory=list)
    fields: dict[str, Track] = field(default_factory=dict)
    quote_requested: list[Source] = field(default_factory=list)
    buyer_seen: bool = False
    decisions: dict[int, Decision] = field(default_factory=dict)
    supplier_orders: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    money_seen: list[tuple[str, str, Source]] = field(default_factory=list)
    message_focus: ItemState | None = None

    def track(self, name: str) -> Track:
        if name not in self.fields:
            self.fields[name] = Track(buyer_decides=name == "budget")
        return self.fields[name]

    def item_for(
        self, name: str | None, source: Source | None, order: int, role: str = "unknown", structured: bool = False
    ) -> ItemState:
        """The item a mention names (fuzzy: another wording of a known product stays one item), else a new one."""
        tokens = items.product_tokens(name) if name else frozenset()
        mention = NameMention(name, source, role, order, structured) if name else None
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


def views_of(thread: NormalizedThread) -> list[MessageView]:
    """Messages in order, forwarded messages (attached or inline) before the message that forwards them."""
    views: list[MessageView] = []

    def add(message: NormalizedMessage) -> None:
        for forwarded in message.forwarded:
            add(forwarded)
        text = message.text or ""
        blocks = split_inline_forwards(text)
        marks = [
            m.start()
            for m in re.finditer(r"(?im)^[ \t>]*(?:-{3,}\s?(?:Forwarded|Original|전달|원본)|Begin forwarded)", text)
        ]
        own_end = marks[0] if blocks and marks else len(text)
        inline: list[MessageView] = []
        for index, (offset, headers) in enumerate(blocks):
            end = marks[index + 1] if index + 1 < len(marks) else len(text)
            name, _, email = (headers.get("from") or "").rpartition("<")
            email = email.rstrip(">").strip()
            name = name.strip().strip('"')
            if not name and "@" not in email:
                name, email = email, ""
            inline.append(
                MessageView(
                    message_id=message.message_id,
                    text=text[:end],
                    role="unknown",
                    sender_name=name or None,
                    sender_email=email.lower() or None,
                    sender_company=None,
                    date=message.date,
                    language=message.language,
                    subject=headers.get("subject", message.subject),
                    body_end=find_body_end(text[:end], offset, name),
                    signature="",
                    base=offset,
                    source=message,
                )
            )
        views.extend(reversed(inline))
        views.append(
            MessageView(
                message_id=message.message_id,
                text=text,
                role=message.role,
                sender_name=message.sender_name,
                sender_email=message.sender_email,
                sender_company=message.sender_company,
                date=message.date,
                language=message.language,
                subject=message.subject,
                body_end=find_body_end(text[:own_end], 0, message.sender_name),
                signature=message.signature or "",
                source=message,
            )
        )

    for message in thread.messages:
        add(message)
    for index, view in enumerate(views):
        view.index = index
        view.clauses = split_clauses(view.text, view.base, view.body_end)
    return views


def _source(view: MessageView, clause: Clause, start: int, end: int) -> Source:
    absolute_start, absolute_end = clause.start + start, clause.start + end
    return Source(
        view.message_id, absolute_start, absolute_end, view.text[absolute_start:absolute_end], view.attachment
    )


def _decision(view: MessageView) -> Decision | None:
    clauses = [c for c in view.clauses if not c.injection]
    text = " ".join(c.text for c in clauses)
    if terms.HALFWAY.search(text):
        return "halfway"
    if terms.REJECT.search(text):
        return "reject"
    if terms.ACCEPT.search(text):
        return "accept"
    return None


def _clause_products(view: MessageView, clause: Clause, korean: bool) -> list[items.ProductMention]:
    label = _PRODUCT_LABEL.match(clause.text)
    if label:
        return [
            items.ProductMention(
                label.group("p").strip(), label.start("p"), label.start("p") + len(label.group("p").strip())
            )
        ]
    mentions: list[items.ProductMention] = []
    line = items.colon_line_product(clause.text)
    if line is None and clause.kind == "list":
        line = items.list_line_product(clause.text)
    if line:
        mentions.append(line)
        rest = clause.text[line.end :]
        mentions += [
            items.ProductMention(m.name, m.start + line.end, m.end + line.end)
            for m in items.prose_products(rest, korean)
        ]
    if not mentions:
        mentions = items.prose_products(clause.text, korean)
    return mentions


def _target(mentions: list[tuple[items.ProductMention, ItemState]], position: int, end: int) -> ItemState | None:
    if not mentions:
        return None
    following = [it for m, it in mentions if 0 <= m.start - end <= 12]
    if following:
        return following[0]
    preceding = [it for m, it in mentions if m.start <= position]
    return preceding[-1] if preceding else mentions[0][1]


def _read_values(
    state: ThreadState,
    view: MessageView,
    clause: Clause,
    mentions: list[tuple[items.ProductMention, ItemState]],
    korean: bool,
    table_row: tables.TableRow | None,
) -> None:
    role, order, text = view.role, view.index, clause.text
    negated = bool(terms.REJECT.search(text))
    common: dict[str, Any] = {
        "role": role,
        "order": order,
        "question": clause.question and role != "supplier",
        "negated": negated,
    }

    def focus(position: int, end: int) -> ItemState | None:
        return (
            _target(mentions, position, end)
            or state.message_focus
            or (state.items[0] if len(state.items) == 1 else None)
        )

    def ensure(position: int, end: int) -> ItemState | None:
        item = focus(position, end)
        if item is None and not state.items:
            item = state.item_for(None, None, order)
        return item

    quantities = find_quantities(text) if table_row is None else []
    tier_quantities = [q for q in quantities if q.kind == "tier"]
    money = [m for m in find_money(text)] if table_row is None else []
    for amount in money:
        state.money_seen.append((amount.currency, role, _source(view, clause, amount.start, amount.end)))
    # line items: order quantities
    for quantity in quantities:
        if quantity.kind != "order":
            continue
        item = ensure(quantity.start, quantity.end)
        if item is not None:
            item.quantity.add(
                Statement(
                    quantity.value,
                    sources=(_source(view, clause, quantity.start, quantity.end),),
                    extra={"unit": quantity.unit},
                    **common,
                )
            )
    # prices
    for amount in money:
        if amount.value <= 0:
            state.warnings.append(f"ignored a zero price in {view.message_id}")
            continue
        before = text[max(0, amount.start - 28) : amount.start]
        if terms.BUDGET.search(text[: amount.start]) or terms.BUDGET.search(text[amount.end : amount.end + 12]):
            if role != "supplier":
                state.track("budget").add(
                    Statement(
                        (amount.value, amount.currency),
                        sources=(_source(view, clause, amount.start, amount.end),),
                        **common,
                    )
                )
            continue
        if terms.NOT_UNIT_PRICE.search(before) or re.match(
            r"\s?(?:in total|total|for the (?:whole|entire|total)|altogether|합계|총액)", text[amount.end :], re.I
        ):
            continue
        if _REQUESTED_BY_OTHER.search(before):
            continue
        if tier_quantities and role == "supplier":
            tier = min(tier_quantities, key=lambda q: abs(q.start - amount.start))
            item = ensure(amount.start, amount.end)
            if item is not None:
                item.tiers.append(
                    Statement(
                        amount.value,
                        sources=(
                            _source(view, clause, tier.start, tier.end),
                            _source(view, clause, amount.start, amount.end),
                        ),
                        extra={"low": tier.low, "high": tier.high, "currency": amount.currency, "unit": tier.unit},
                        **common,
                    )
                )
            continue
        item = ensure(amount.start, amount.end)
        if item is None:
            state.warnings.append(
                f"price {view.text[clause.start + amount.start : clause.start + amount.end]} not tied to a product"
            )
            continue
        if _AMOUNT_OFF.match(text, amount.end):
            _add_amount_off(item, view, clause, amount, common)
            continue
        item.price.add(_price_statement(view, clause, amount, common))
    # table row values
    if table_row is not None and mentions:
        item = mentions[0][1]
        if table_row.quantity:
            cell = table_row.quantity
            value, unit, start, end = cell.value, cell.unit, cell.start, cell.end
            item.quantity.add(
                Statement(value, sources=(_source(view, clause, start, end),), extra={"unit": unit}, **common)
            )
        if table_row.unit_price and table_row.unit_price.value > 0:
            price = table_row.unit_price
            value, currency, start, end = price.value, price.currency, price.start, price.end
            item.price.add(
                Statement(
                    value,
                    sources=(_source(view, clause, start, end),),
                    extra={
                        "currency": currency or item.table_currency,
                        "net": table_row.discount is not None,
                        "pos": start,
                    },
                    **common,
                )
            )
        if table_row.discount:
            value, start, end = table_row.discount.value, table_row.discount.start, table_row.discount.end
            item.discount.add(
                Statement(value, sources=(_source(view, clause, start, end),), extra={"pos": start}, **common)
            )
    # discounts
    for found in terms.find_discounts(text):
        if _REQUESTED_BY_OTHER.search(text[max(0, found.start - 28) : found.start]):
            continue
        threshold = next((q for q in tier_quantities if q.low), None)
        statement_extra = {"threshold": threshold.low if threshold else None, "pos": found.start}
        targets: list[ItemState]
        mention_target = _target(mentions, found.start, found.end)
        if mention_target is not None:
            targets = [mention_target]
        elif state.message_focus is not None and len(state.items) <= 1:
            targets = [state.message_focus]
        elif state.items:
            targets = list(state.items)
        else:
            targets = [state.item_for(None, None, order)]
        for item in targets:
            item.discount.add(
                Statement(
                    float(found.value),
                    sources=(_source(view, clause, found.start, found.end),),
                    extra=statement_extra,
                    **common,
                )
            )
    # thread-level terms
    moq = find_moq(text)
    if moq:
        state.track("moq").add(Statement(moq[0], sources=(_source(view, clause, moq[1], moq[2]),), **common))
    for name, finder in (
        ("delivery_lead_time_days", dates.find_lead_time),
        ("shipping_method", terms.find_shipping),
        ("payment_terms", terms.find_payment_terms),
        ("warranty_months", terms.find_warranty),
    ):
        found_value = finder(text)
        if found_value is not None:
            state.track(name).add(
                Statement(
                    found_value.value, sources=(_source(view, clause, found_value.start, found_value.end),), **common
                )
            )
    incoterm_found = terms.find_incoterm_and_place(text)
    if incoterm_found is not None:
        incoterm, place = incoterm_found
        state.track("incoterm").add(
            Statement(
                incoterm.value,
                sources=(_source(view, clause, incoterm.start, place.end if place else incoterm.end),),
                extra={"place": (place.value, _source(view, clause, place.start, place.end)) if place else None},
                **common,
            )
        )
    vat = terms.find_vat(text)
    if vat is not None:
        state.track("vat_status").add(
            Statement(vat.value, sources=(_source(view, clause, vat.start, vat.end),), **common)
        )
    delivery = dates.find_delivery_date(text, view.date)
    if delivery is not None:
        state.track("delivery_date").add(
            Statement(delivery.value, sources=(_source(view, clause, delivery.start, delivery.end),), **common)
        )
    if (
        role != "supplier"
        and terms.QUOTE_REQUEST.search(text)
        and not re.search(r"quotation attached|견적서를? 첨부|as quoted|quoted price", text, re.I)
    ):
        match = terms.QUOTE_REQUEST.search(text)
        assert match is not None
        state.quote_requested.append(_source(view, clause, match.start(), match.end()))


_AMOUNT_OFF = re.compile(
    r"\s?(?:(?:per|a|/)\s?(?:piece|pc|unit|item|set|kg)\s)?(?:off\b|discount\b|reduction\b|rebate\b)"
    r"|\s?(?:씩\s?)?(?:을|를)?\s?(?:할인|인하|빼|깎)",
    re.I,
)
"""Money followed by 'off' / '할인': a discount stated as an amount, not a price."""


def _add_amount_off(item: ItemState, view: MessageView, clause: Clause, amount: Money, common: dict[str, Any]) -> None:
    """'USD 0.60 off per piece' / '대당 ₩50,000 할인': the net price is the price on the table minus the amount."""
    offered = [s for s in item.price.statements if s.role == "supplier" and not s.question and s.order <= view.index]
    if not offered or common["role"] != "supplier":
        return
    base = offered[-1]
    net = float(base.value) - amount.value
    if net <= 0:
        return
    item.price.add(
        Statement(
            net,
            sources=(*base.sources, _source(view, clause, amount.start, amount.end)),
            extra={**base.extra, "net": True, "list": False},
            **common,
        )
    )


def _price_statement(view: MessageView, clause: Clause, amount: Money, common: dict[str, Any]) -> Statement:
    text = clause.text
    before = text[max(0, amount.start - 30) : amount.start]
    after = text[amount.end : amount.end + 20]
    listed = bool(terms.LIST_PRICE.search(before))
    net = bool(
        terms.NET_PRICE.search(before)
        or re.match(r"\s?(?:이|가)?\s?(?:되며|됩니다|로 조정|으로 조정|net|after discount)", after, re.I)
    )
    return Statement(
        amount.value,
        sources=(_source(view, clause, amount.start, amount.end),),
        extra={
            "currency": amount.currency,
            "list": listed and not net,
            "net": net,
            "pos": amount.start,
            "per_unit": amount.per_unit,
        },
        **common,
    )


def collect(thread: NormalizedThread) -> tuple[list[MessageView], ThreadState]:
    """Read every message into statements."""
    views = views_of(thread)
    reading = attachments.with_attachments(views)  # a sender whose attachment is a priced quote offers
    roles = infer_roles(reading)
    for view in reading:
        view.role = roles.get(party_key(view), view.role)  # type: ignore[assignment]
    state = ThreadState()
    subject_name = _subject_product(thread.subject)
    for view in reading:
        state.message_focus = None
        korean = view.language in ("ko", "mixed") or bool(re.search(r"[가-힣]", view.body))
        if view.role == "supplier":
            state.supplier_orders.add(view.index)
            decision = _decision(view) if view.attachment is None else None  # a document accepts nothing
            if decision:
                state.decisions[view.index] = decision
        else:
            state.buyer_seen = True
        header: dict[str, int] | None = None
        header_currency: str | None = None
        for clause in view.clauses:
            if clause.injection:
                if "injection" not in " ".join(state.warnings):
                    state.warnings.append(
                        f"ignored text that tries to instruct the system (prompt injection) in {view.message_id}"
                    )
                continue
            table_row = None
            if clause.kind == "table":
                columns = tables.parse_header(clause.text)
                if columns:
                    header, header_currency = columns, tables.header_currency(clause.text) or view.default_currency
                    continue
                if header is not None:
                    table_row = tables.parse_table_row(clause.text, header)
                    if table_row is None:
                        continue
            else:
                header = None
            mentions_raw = (
                [table_row.product] if table_row and table_row.product else _clause_products(view, clause, korean)
            )
            mentions: list[tuple[items.ProductMention, ItemState]] = []
            structured = table_row is not None or clause.kind == "list" or bool(_PRODUCT_LABEL.match(clause.text))
            for position, mention in enumerate(mentions_raw):
                if mention is None:
                    continue
                item = state.item_for(
                    mention.name,
                    _source(view, clause, mention.start, mention.end),
                    view.index,
                    view.role,
                    structured or (position == 0 and items.colon_line_product(clause.text) is not None),
                )
                if table_row is not None and header_currency:
                    item.table_currency = header_currency
                mentions.append((mention, item))
            _read_values(state, view, clause, mentions, korean, table_row)
            if mentions:
                state.message_focus = mentions[-1][1]
    if subject_name:
        for item in state.items:
            if item.name is None:
                item.name = subject_name
                item.tokens = items.product_tokens(subject_name)
    return views, state


def _subject_product(subject: str) -> str | None:
    cleaned = re.sub(
        r"(?i)\b(?:inquiry|enquiry|rfq|request for (?:quotation|quote)|quotation|quote|price|pricing|offer|order"
        r"|re|fw|fwd|for|about|on|of|regarding)\b[:\s-]*"
        r"|견적\s?(?:요청|문의|의뢰)?|가격\s?문의|단가\s?문의|구매\s?문의|문의|요청|관련|건|[\[\]():：]",
        " ",
        subject or "",
    )
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" -:,")
    return cleaned or None


@dataclass
class Resolved:
    """Final key facts plus the evidence behind each value."""

    facts: KeyFacts
    evidence: list[Evidence]
    warnings: list[str]
    needs_review: bool
    vat: VatStatus | None = None
    incoterm_place: str | None = None


def _evidence(path: str, sources: tuple[Source, ...] | list[Source]) -> list[Evidence]:
    return [
        Evidence(
            field=path,
            message_id=s.message_id,
            start=s.start,
            end=max(s.start, s.end),
            text=s.text,
            attachment=s.attachment,
        )
        for s in sources
    ]


def resolve(views: list[MessageView], state: ThreadState) -> Resolved:
    """The latest terms on the table, with evidence."""
    evidence: list[Evidence] = []
    warnings = list(dict.fromkeys(state.warnings))
    scalars: dict[str, Any] = {}
    for name in SCALAR_FIELDS:
        if name in ("currency", "quote_requested"):  # resolved from the items and the buyer's asks below
            continue
        track = state.fields.get(name)
        if track is None:
            continue
        chosen = track.resolve(state.decisions, state.supplier_orders)
        if chosen is None:
            continue
        scalars[name] = chosen.value
        evidence += _evidence(name, chosen.sources)
    vat_status, place = _vat_and_place(state, evidence)
    line_items: list[LineItem] = []
    item_currencies: list[str] = []
    kept = [
        it for it in state.items if it.quantity.statements or it.price.statements or it.discount.statements or it.tiers
    ]
    if not kept and state.items:
        kept = [state.items[0]] if state.items[0].name else []
    for item in kept:
        index = len(line_items)
        prefix = f"items.{index}"
        quantity = item.quantity.resolve(state.decisions, state.supplier_orders)
        price = item.price.resolve(state.decisions, state.supplier_orders)
        discount = item.discount.resolve(state.decisions, state.supplier_orders)
        qty_value = float(quantity.value) if quantity else None
        if (
            discount is not None
            and discount.extra.get("threshold")
            and (qty_value is None or qty_value < discount.extra["threshold"])
        ):
            discount = None
        unit_price: float | None = None
        currency: str | None = None
        price_sources: list[Source] = []
        if price is not None:
            unit_price = float(price.value)
            currency = price.extra.get("currency")
            price_sources = list(price.sources)
        tier = _tier_for(item, qty_value, price)
        if tier is not None:
            unit_price = float(tier.value)
            currency = tier.extra.get("currency")
            price_sources = list(tier.sources)
            price = tier
        if (
            unit_price is not None
            and discount is not None
            and price is not None
            and not _is_net(item, price, discount, state)
        ):
            unit_price = unit_price * (1 - float(discount.value) / 100)
            price_sources += list(discount.sources)
        currency = currency or item.table_currency
        if unit_price is not None and currency:
            item_currencies.append(currency)
        product_name, name_source = item.best_name()
        line = LineItem(
            product=product_name,
            quantity=clean_number(qty_value) if qty_value is not None else None,
            unit=(quantity.extra.get("unit") if quantity else None),
            unit_price=clean_number(round(unit_price, 4)) if unit_price is not None else None,
            currency=currency if unit_price is not None else None,
            discount_percent=clean_number(float(discount.value)) if discount is not None else None,
        )
        if line.product and name_source:
            evidence += _evidence(f"{prefix}.product", [name_source])
        if quantity:
            evidence += _evidence(f"{prefix}.quantity", quantity.sources)
            if line.unit:
                evidence += _evidence(f"{prefix}.unit", quantity.sources)
        if line.unit_price is not None:
            evidence += _evidence(f"{prefix}.unit_price", price_sources)
            evidence += _evidence(f"{prefix}.currency", price_sources[:1])
        if discount is not None:
            evidence += _evidence(f"{prefix}.discount_percent", discount.sources)
        line_items.append(line)
    budget = scalars.pop("budget", None)
    budget_value = None
    currency = Counter(item_currencies).most_common(1)[0][0] if item_currencies else None
    if budget is not None:
        budget_value, budget_currency = budget
        currency = currency or budget_currency
    currency_evidence = [e for e in evidence if e.field.endswith(".currency") or e.field == "budget"][:1]
    if currency is None and state.money_seen:
        supplier_money = [(c, src) for c, role, src in state.money_seen if role == "supplier"]
        pool = supplier_money or [(c, src) for c, _, src in state.money_seen]
        currency = Counter(c for c, _ in pool).most_common(1)[0][0]
        currency_evidence = _evidence("currency", [next(src for c, src in pool if c == currency)])
    if currency:
        evidence += [e.model_copy(update={"field": "currency"}) for e in currency_evidence]
    buyer_views = [v for v in views if v.role != "supplier"]
    supplier_views = [v for v in views if v.role == "supplier"]
    buyer, buyer_evidence = _party("buyer", build_party(buyer_views))
    supplier, supplier_evidence = _party("supplier", build_party(supplier_views))
    evidence += buyer_evidence + supplier_evidence
    quote_requested: bool | None = bool(state.quote_requested) if state.buyer_seen else None
    if state.quote_requested:
        evidence += _evidence("quote_requested", state.quote_requested[:1])
    facts = KeyFacts(
        buyer=buyer,
        supplier=supplier,
        currency=currency,
        items=line_items,
        moq=clean_number(float(scalars["moq"])) if "moq" in scalars else None,
        delivery_lead_time_days=scalars.get("delivery_lead_time_days"),
        delivery_date=scalars.get("delivery_date"),
        shipping_method=scalars.get("shipping_method"),
        incoterm=scalars.get("incoterm"),
        payment_terms=scalars.get("payment_terms"),
        warranty_months=scalars.get("warranty_months"),
        budget=clean_number(budget_value) if budget_value is not None else None,
        quote_requested=quote_requested,
    )
    needs_review = bool(warnings) or not line_items or any(i.unit_price is None for i in line_items)
    return Resolved(
        facts=facts,
        evidence=evidence,
        warnings=warnings,
        needs_review=needs_review,
        vat=vat_status,
        incoterm_place=place,
    )


def _vat_and_place(state: ThreadState, evidence: list[Evidence]) -> tuple[VatStatus | None, str | None]:
    """VAT status and the Incoterm's named place, beside the SPEC facts, each with its evidence."""
    vat_status: VatStatus | None = None
    vat_track = state.fields.get("vat_status")
    chosen_vat = vat_track.resolve(state.decisions, state.supplier_orders) if vat_track else None
    if chosen_vat is not None and chosen_vat.value in ("excluded", "included", "exempt"):
        vat_status = chosen_vat.value
        evidence += _evidence("vat_status", chosen_vat.sources)
    place: str | None = None
    incoterm_track = state.fields.get("incoterm")
    chosen = incoterm_track.resolve(state.decisions, state.supplier_orders) if incoterm_track else None
    if chosen is not None and incoterm_track is not None:
        candidates = [chosen] + [
            s for s in reversed(incoterm_track.statements) if s.value == chosen.value and s is not chosen
        ]
        named = next((s.extra["place"] for s in candidates if s.extra.get("place")), None)
        if named is not None:
            place = named[0]
            evidence += _evidence("incoterm_place", [named[1]])
    return vat_status, place


def _is_net(item: ItemState, price: Statement, discount: Statement, state: ThreadState) -> bool:
    """Whether a price already has the discount in it (so it must not be applied twice)."""
    if price.extra.get("net"):
        return True
    if price.extra.get("list"):
        return False
    if price.order > discount.order:
        return True
    if price.order < discount.order:
        return False
    earlier = [s for s in item.price.statements if s.role == "supplier" and s.order < price.order]
    if earlier:
        previous = float(earlier[-1].value)
        expected = previous * (1 - float(discount.value) / 100)
        return abs(expected - float(price.value)) <= 0.011 * previous or float(price.value) < previous
    return (
        int(price.extra.get("pos", 0)) > int(discount.extra.get("pos", 0))
        and price.sources[0].start > discount.sources[0].start
    )


def _tier_for(item: ItemState, quantity: float | None, price: Statement | None) -> Statement | None:
    if not item.tiers:
        return None
    latest_order = max(t.order for t in item.tiers)
    if price is not None and price.order > latest_order:
        return None
    tiers = [t for t in item.tiers if t.order == latest_order]
    if quantity is None:
        return min(tiers, key=lambda t: t.extra.get("low") or 0)
    matching = [
        t
        for t in tiers
        if (t.extra.get("low") or 0) <= quantity and (t.extra.get("high") is None or quantity <= t.extra["high"])
    ]
    if matching:
        return max(matching, key=lambda t: t.extra.get("low") or 0)
    return None


def _party(role: str, facts: PartyFacts | None) -> tuple[Party | None, list[Evidence]]:
    if facts is None or not (facts.name or facts.company or facts.email):
        return None, []
    evidence: list[Evidence] = []
    for name, source in (("name", facts.name_source), ("company", facts.company_source), ("email", facts.email_source)):
        if source is not None:
            message_id, start, end, text = source
            evidence.append(Evidence(field=f"{role}.{name}", message_id=message_id, start=start, end=end, text=text))
    return Party(name=facts.name, company=facts.company, email=facts.email), evidence


def extract_facts(thread: NormalizedThread) -> tuple[list[MessageView], ThreadState, Resolved]:
    """Collect and resolve: the whole key-fact pipeline for one thread."""
    views, state = collect(thread)
    return views, state, resolve(views, state)


def empty_extraction(reason: str) -> Extraction:
    return Extraction(facts=KeyFacts(), warnings=[reason], needs_review=True, engine="rules")
