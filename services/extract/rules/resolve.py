"""From statements to key facts: the term on the table per field and per line item, with the evidence behind it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from services.extract.rules import items
from services.extract.rules.confidence import combined, fact_confidence, statement_confidence
from services.extract.rules.negotiation import (
    BudgetStatement,
    DiscountStatement,
    IncotermStatement,
    PriceStatement,
    QuantityStatement,
    Source,
    Statement,
    TierStatement,
)
from services.extract.rules.numbers import clean_number
from services.extract.rules.parties import PartyFacts, build_party
from services.extract.rules.state import ItemState, ThreadState
from services.extract.rules.text import MessageView
from shared.events import SCALAR_FIELDS, Evidence, FactConfidence, KeyFacts, LineItem, Party, VatStatus

_RESOLVED_ELSEWHERE = ("currency", "quote_requested")
"""Scalar fields not negotiated on a track of their own: from the items' prices and the buyer's asks."""


@dataclass
class Resolved:
    """Final key facts plus the evidence behind each value."""

    facts: KeyFacts
    evidence: list[Evidence]
    warnings: list[str]
    needs_review: bool
    vat: VatStatus | None = None
    incoterm_place: str | None = None
    confidence: dict[str, FactConfidence] = field(default_factory=dict)
    """A confidence per non-null fact, by dotted path (rules/confidence.py)."""


@dataclass
class ResolvedItem:
    """One line item with the evidence and the confidence of each of its values."""

    line: LineItem
    evidence: list[Evidence] = field(default_factory=list)
    confidence: dict[str, FactConfidence] = field(default_factory=dict)
    priced_currency: str | None = None
    """The line's currency when it has a price (what the thread's currency is voted from)."""


def evidence_of(path: str, sources: tuple[Source, ...] | list[Source]) -> list[Evidence]:
    """Evidence spans for one fact path (``items.0.unit_price``) from the sources of its statement."""
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
    warnings = list(dict.fromkeys(state.warnings))
    scalars, evidence = resolve_scalars(state)
    confidence = {name: scalar_confidence(state, name, chosen) for name, chosen in scalars.items()}
    vat_status, place = resolve_vat_and_place(state, evidence, confidence)
    resolved_items = [resolve_item(item, index, state) for index, item in enumerate(items_kept(state, views))]
    for resolved_item in resolved_items:
        evidence += resolved_item.evidence
        confidence.update(resolved_item.confidence)
    line_items = [r.line for r in resolved_items]
    budget = scalars.pop("budget", None)
    currency = resolve_currency(state, resolved_items, budget, evidence, confidence)
    buyer, buyer_evidence = _party("buyer", build_party([v for v in views if v.role != "supplier"]), confidence)
    supplier, supplier_evidence = _party(
        "supplier", build_party([v for v in views if v.role == "supplier"]), confidence
    )
    evidence += buyer_evidence + supplier_evidence
    quote_requested: bool | None = bool(state.quote_requested) if state.buyer_seen else None
    if state.quote_requested:
        evidence += evidence_of("quote_requested", state.quote_requested[:1])
        asking = len({s.message_id for s in state.quote_requested})
        confidence["quote_requested"] = fact_confidence("sentence", asking)
    elif quote_requested is not None:
        confidence["quote_requested"] = fact_confidence("inferred", 0)  # no ask found is not a stated 'no'
    facts = KeyFacts(
        buyer=buyer,
        supplier=supplier,
        currency=currency,
        items=line_items,
        moq=clean_number(float(scalars["moq"].value)) if "moq" in scalars else None,
        delivery_lead_time_days=_value(scalars, "delivery_lead_time_days"),
        delivery_date=_value(scalars, "delivery_date"),
        shipping_method=_value(scalars, "shipping_method"),
        incoterm=_value(scalars, "incoterm"),
        payment_terms=_value(scalars, "payment_terms"),
        warranty_months=_value(scalars, "warranty_months"),
        budget=clean_number(budget.value) if budget is not None else None,
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
        confidence=confidence,
    )


def scalar_confidence(state: ThreadState, name: str, chosen: Statement) -> FactConfidence:
    """The confidence of a thread-level term: how its statement was found, and who agrees on it."""
    track = state.fields[name]
    return statement_confidence(chosen, track, state.decisions)


def _value(scalars: dict[str, Statement], name: str) -> Any:
    chosen = scalars.get(name)
    return chosen.value if chosen is not None else None


def resolve_scalars(state: ThreadState) -> tuple[dict[str, Statement], list[Evidence]]:
    """The statement on the table for each thread-level field, and its evidence."""
    chosen_by_field: dict[str, Statement] = {}
    evidence: list[Evidence] = []
    for name in SCALAR_FIELDS:
        if name in _RESOLVED_ELSEWHERE:
            continue
        chosen = state.resolved(state.fields.get(name))
        if chosen is None:
            continue
        chosen_by_field[name] = chosen
        evidence += evidence_of(name, chosen.sources)
    return chosen_by_field, evidence


def resolve_vat_and_place(
    state: ThreadState, evidence: list[Evidence], confidence: dict[str, FactConfidence]
) -> tuple[VatStatus | None, str | None]:
    """VAT status and the Incoterm's named place, beside the SPEC facts, each with its evidence and confidence."""
    vat_status: VatStatus | None = None
    chosen_vat = state.resolved(state.fields.get("vat_status"))
    if chosen_vat is not None and chosen_vat.value in ("excluded", "included", "exempt"):
        vat_status = chosen_vat.value
        evidence += evidence_of("vat_status", chosen_vat.sources)
        confidence["vat_status"] = scalar_confidence(state, "vat_status", chosen_vat)
    place: str | None = None
    incoterm_track = state.fields.get("incoterm")
    chosen = state.resolved(incoterm_track)
    if chosen is not None and incoterm_track is not None:
        # the place may have been written with an earlier statement of the same code ('FOB Busan' … 'FOB')
        candidates = [chosen] + [
            s for s in reversed(incoterm_track.statements) if s.value == chosen.value and s is not chosen
        ]
        with_place = next((s for s in candidates if isinstance(s, IncotermStatement) and s.place), None)
        if isinstance(with_place, IncotermStatement) and with_place.place is not None:
            place = with_place.place.name
            evidence += evidence_of("incoterm_place", [with_place.place.source])
            confidence["incoterm_place"] = fact_confidence(with_place.found_in)
    return vat_status, place


def items_kept(state: ThreadState, views: list[MessageView] | None = None) -> list[ItemState]:
    """Lines the thread stated something about, less those a revised quotation left out, less the options the
    buyer did not choose; a thread that only names a product keeps its first one."""
    kept = [item for item in state.items if item.stated_anything()]
    revision = latest_requotation(kept)
    if revision is not None:
        kept = [item for item in kept if not _left_out(item, revision)]
    if views:
        kept = _chosen_option(kept, views)
        kept = _answered_requests(kept, views)
    if not kept and state.items:
        kept = [state.items[0]] if state.items[0].name else []
    return kept


_OPTION = re.compile(
    r"(?<![\w])(?:option|opt\.|alternative|variant|proposal|옵션|제안|대안)\s?(?P<k>[A-Za-z]|\d{1,2})(?![A-Za-z0-9]|[.,]\d)"
    r"|(?<![\w])(?P<k2>[A-Z]|\d)\s?안(?![가-힣])",
    re.IGNORECASE,
)
"""'Option B' / 'option 2' / '제안 B' / 'B안': an offered alternative, by its letter or number."""


def _option_key(match: re.Match[str]) -> str:
    return (match.group("k") or match.group("k2")).upper()


def _line_around(views: list[MessageView], source: Source) -> str:
    """The line of its message a source stands on (where an option label is written)."""
    for view in views:
        same = view.message_id == source.message_id and view.attachment == source.attachment
        if same and view.text[source.start : source.end] == source.text:
            end = view.text.find("\n", source.end)
            return view.text[view.text.rfind("\n", 0, source.start) + 1 : end if end >= 0 else None]
    return ""


def _chosen_option(kept: list[ItemState], views: list[MessageView]) -> list[ItemState]:
    """When the supplier offers lines as options ('Option A …', '제안 B …') and the buyer later names one ('we've
    decided on Option B'), only the chosen option is a line of the deal; the buyer's own unpriced request, which
    the options answer, goes too. Lines offered outside the options stay."""
    labels: dict[str, ItemState] = {}
    offered_at = -1
    for item in kept:
        prices = [s for s in item.price.statements if s.role == "supplier" and not s.question]
        for statement in prices[:1]:
            line = _line_around(views, statement.sources[0])
            found = list(_OPTION.finditer(line))
            if found:
                labels.setdefault(_option_key(found[0]), item)
                offered_at = max(offered_at, statement.order)
    if len(set(map(id, labels.values()))) < 2:
        return kept
    chosen: ItemState | None = None
    for view in views:
        if view.role == "supplier" or view.index <= offered_at:
            continue
        for match in _OPTION.finditer(view.body):
            chosen = labels.get(_option_key(match), chosen)
    if chosen is None:
        return kept
    options = set(map(id, labels.values()))
    return [
        item
        for item in kept
        if item is chosen or (id(item) not in options and any(s.role == "supplier" for s in item.price.statements))
    ]


def _words(item: ItemState) -> set[str]:
    """The plain words (no codes, no numbers, two letters or more) of every name a line was given."""
    names = [m.name for m in item.names] or ([item.name] if item.name else [])
    return {t for name in names for t in items.product_tokens(name) if len(t) >= 2 and not re.search(r"\d", t)}


def _numbers(item: ItemState, views: list[MessageView]) -> set[str]:
    """Numbers of two digits or more in a line's names and the lines the supplier priced it on ('DW-500K  500A')."""
    lines = [m.name for m in item.names]
    lines += [_line_around(views, s.sources[0]) for s in item.price.statements if s.role == "supplier"]
    return set(re.findall(r"\d{2,}", " ".join(lines)))


def _answered_requests(kept: list[ItemState], views: list[MessageView]) -> list[ItemState]:
    """A buyer's generic request ('CO2/MAG 용접기 500A급', '모션데스크 1600 x 800') and the supplier's priced line that
    answers it under a model name ('CO2/MAG 용접기 DW-500K'): one line, named as the offer names it. The request's
    words must all be in the priced line's name; the request's numbers decide between several such lines."""
    priced = [i for i in kept if any(s.role == "supplier" and not s.question for s in i.price.statements)]
    if not priced:
        return kept
    result = list(kept)
    for request in kept:
        if request in priced or not request.names or any(m.role == "supplier" for m in request.names):
            continue
        words = _words(request)
        candidates = [offer for offer in priced if words and words <= _words(offer)]
        if len(candidates) > 1:
            numbers = set(re.findall(r"\d{2,}", " ".join(m.name for m in request.names)))
            candidates = [offer for offer in candidates if numbers & _numbers(offer, views)]
        if len(candidates) != 1:
            continue
        offer = candidates[0]
        for name in ("quantity", "price", "discount"):
            track, asked = getattr(offer, name), getattr(request, name)
            track.statements = sorted([*asked.statements, *track.statements], key=lambda s: s.order)
        offer.tiers = sorted([*request.tiers, *offer.tiers], key=lambda t: t.order)
        result.remove(request)
    return result


def _supplier_priced_at(item: ItemState) -> set[int]:
    return {s.order for s in item.price.statements if s.role == "supplier" and not s.question}


def latest_requotation(items: list[ItemState]) -> int | None:
    """The last supplier message that prices two or more lines after an earlier one did: a revised quotation."""
    priced: dict[int, int] = {}
    for item in items:
        for order in _supplier_priced_at(item):
            priced[order] = priced.get(order, 0) + 1
    quotations = sorted(order for order, count in priced.items() if count >= 2)
    return quotations[-1] if len(quotations) >= 2 else None


def _left_out(item: ItemState, revision: int) -> bool:
    """A line the supplier priced before the revised quotation, and nobody mentioned since: dropped from the deal."""
    if not _supplier_priced_at(item):
        return False
    stated = [*item.quantity.statements, *item.price.statements, *item.discount.statements, *item.tiers]
    return all(s.order < revision for s in stated) and all(m.order < revision for m in item.names)


def resolve_item(item: ItemState, index: int, state: ThreadState) -> ResolvedItem:
    """One line: quantity, the price on the table (a tier's for the quantity), discount applied once."""
    prefix = f"items.{index}"
    quantity: QuantityStatement | None = item.quantity.resolve(state.decisions, state.supplier_orders)
    price: PriceStatement | TierStatement | None = item.price.resolve(state.decisions, state.supplier_orders)
    discount: DiscountStatement | None = item.discount.resolve(state.decisions, state.supplier_orders)
    qty_value = float(quantity.value) if quantity else None
    if discount is not None and discount.threshold and (qty_value is None or qty_value < discount.threshold):
        discount = None  # a volume discount the order does not reach
    unit_price: float | None = None
    currency: str | None = None
    price_sources: list[Source] = []
    if price is not None:
        unit_price = float(price.value)
        currency = price.currency
        price_sources = list(price.sources)
    tier = tier_for(item, qty_value, price)
    if tier is not None:
        unit_price = float(tier.value)
        currency = tier.currency
        price_sources = list(tier.sources)
        price = tier
    applied_discount = False
    if unit_price is not None and discount is not None and price is not None and not is_net(item, price, discount):
        unit_price = unit_price * (1 - float(discount.value) / 100)
        price_sources += list(discount.sources)
        applied_discount = True
    currency = currency or item.table_currency
    product_name, name_source = item.best_name()
    confidence = _item_confidence(item, state, quantity, price, discount, applied_discount)
    line = LineItem(
        product=product_name,
        quantity=clean_number(qty_value) if qty_value is not None else None,
        unit=quantity.unit if quantity else None,
        unit_price=clean_number(round(unit_price, 4)) if unit_price is not None else None,
        currency=currency if unit_price is not None else None,
        discount_percent=clean_number(float(discount.value)) if discount is not None else None,
    )
    resolved = ResolvedItem(line, priced_currency=currency if unit_price is not None else None)
    line_values = line.model_dump()
    resolved.confidence = {
        f"{prefix}.{name}": score
        for name, score in confidence.items()
        if line_values.get(name) is not None and line_values.get(name) != ""
    }
    if line.product and name_source:
        resolved.evidence += evidence_of(f"{prefix}.product", [name_source])
    if quantity:
        resolved.evidence += evidence_of(f"{prefix}.quantity", quantity.sources)
        if line.unit:
            resolved.evidence += evidence_of(f"{prefix}.unit", quantity.sources)
    if line.unit_price is not None:
        resolved.evidence += evidence_of(f"{prefix}.unit_price", price_sources)
        resolved.evidence += evidence_of(f"{prefix}.currency", price_sources[:1])
    if discount is not None:
        resolved.evidence += evidence_of(f"{prefix}.discount_percent", discount.sources)
    return resolved


def resolve_currency(
    state: ThreadState,
    resolved_items: list[ResolvedItem],
    budget: Statement | None,
    evidence: list[Evidence],
    confidence: dict[str, FactConfidence],
) -> str | None:
    """The thread's currency: the priced lines' majority, else the budget's, else the amounts the supplier wrote."""
    item_currencies = [r.priced_currency for r in resolved_items if r.priced_currency]
    currency = Counter(item_currencies).most_common(1)[0][0] if item_currencies else None
    found = next(
        (
            r.confidence[path]
            for index, r in enumerate(resolved_items)
            if r.priced_currency == currency and (path := f"items.{index}.currency") in r.confidence
        ),
        None,
    )
    if isinstance(budget, BudgetStatement) and currency is None and budget.currency:
        currency = budget.currency
        found = confidence.get("budget")
    currency_evidence = [e for e in evidence if e.field.endswith(".currency") or e.field == "budget"][:1]
    if currency is None and state.money_seen:
        supplier_money = [m for m in state.money_seen if m.role == "supplier"]
        pool = supplier_money or state.money_seen
        currency = Counter(m.currency for m in pool).most_common(1)[0][0]
        currency_evidence = evidence_of("currency", [next(m.source for m in pool if m.currency == currency)])
        found = fact_confidence("inferred", len({m.source.message_id for m in pool if m.currency == currency}))
    if currency:
        evidence += [e.model_copy(update={"field": "currency"}) for e in currency_evidence]
        confidence["currency"] = found or fact_confidence("inferred", 0)
    return currency


def _item_confidence(
    item: ItemState,
    state: ThreadState,
    quantity: QuantityStatement | None,
    price: PriceStatement | TierStatement | None,
    discount: DiscountStatement | None,
    applied_discount: bool,
) -> dict[str, FactConfidence]:
    """Confidence per field of one line (unprefixed: product, quantity, unit, unit_price, currency, discount)."""
    found: dict[str, FactConfidence] = {}
    mention = item.best_mention()
    if mention is not None:
        found["product"] = fact_confidence(mention.found_in, len({m.order for m in item.names}))
    elif item.name:
        found["product"] = fact_confidence("inferred", 0)  # named by the subject line only
    if quantity is not None:
        found["quantity"] = found["unit"] = statement_confidence(quantity, item.quantity, state.decisions)
    discount_confidence = (
        statement_confidence(discount, item.discount, state.decisions) if discount is not None else None
    )
    if discount_confidence is not None:
        found["discount_percent"] = discount_confidence
    if isinstance(price, TierStatement):
        price_confidence = fact_confidence(price.found_in)
    elif price is not None:
        price_confidence = statement_confidence(price, item.price, state.decisions)
    else:
        return found
    if applied_discount and discount_confidence is not None:
        price_confidence = combined([price_confidence, discount_confidence])
    found["unit_price"] = found["currency"] = price_confidence
    return found


def is_net(item: ItemState, price: PriceStatement | TierStatement, discount: DiscountStatement) -> bool:
    """Whether a price already has the discount in it (so it must not be applied twice)."""
    if isinstance(price, PriceStatement):
        if price.net:
            return True
        if price.list_price:
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
    position = price.position if isinstance(price, PriceStatement) else 0
    return position > discount.position and price.sources[0].start > discount.sources[0].start


def tier_for(item: ItemState, quantity: float | None, price: Statement | None) -> TierStatement | None:
    """The latest tier table's price for the quantity (the lowest band when no quantity is known)."""
    if not item.tiers:
        return None
    latest_order = max(t.order for t in item.tiers)
    if price is not None and price.order > latest_order:
        return None
    tiers = [t for t in item.tiers if t.order == latest_order]
    if quantity is None:
        return min(tiers, key=lambda t: t.low or 0)
    matching = [t for t in tiers if (t.low or 0) <= quantity and (t.high is None or quantity <= t.high)]
    if matching:
        return max(matching, key=lambda t: t.low or 0)
    return None


def _party(
    role: str, facts: PartyFacts | None, confidence: dict[str, FactConfidence]
) -> tuple[Party | None, list[Evidence]]:
    if facts is None or not (facts.name or facts.company or facts.email):
        return None, []
    evidence: list[Evidence] = []
    for name, source in (("name", facts.name_source), ("company", facts.company_source), ("email", facts.email_source)):
        if source is not None:
            message_id, start, end, text = source
            evidence.append(Evidence(field=f"{role}.{name}", message_id=message_id, start=start, end=end, text=text))
    for name, value, how in (
        ("name", facts.name, facts.name_found_in),
        ("company", facts.company, facts.company_found_in),
        ("email", facts.email, facts.email_found_in),
    ):
        if value:
            confidence[f"{role}.{name}"] = fact_confidence(how)
    return Party(name=facts.name, company=facts.company, email=facts.email), evidence
