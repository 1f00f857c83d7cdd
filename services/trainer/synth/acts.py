"""Negotiation rounds after the offer, as an explicit table: each act kind, its weight and the function playing it.

A round is one buyer message and the supplier's answer; playing it writes both drafts and updates the true
terms to match (SPEC.md §1: latest terms win, a rejected counter-offer is not a term, unit prices are net of
discount). The table replaces looking methods up by name, so a new act is one entry here, checked by mypy
and by the test that every :class:`ActKind` has a handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from services.trainer.synth.formatting import (
    SHIPPING_PHRASES,
    fmt_warranty,
    net_price,
    per_unit_ko,
    percent_text,
    round_price,
    unit_one,
)
from services.trainer.synth.templates import SCOPE_ALL, SCOPE_QTY, SCOPE_SAME

if TYPE_CHECKING:  # the builder imports this module to negotiate; acts only need its type
    from services.trainer.synth.builder import ThreadBuilder


class ActKind(StrEnum):
    """A kind of negotiation round; its value is the event name written to expected.json."""

    DISCOUNT = "discount"
    COUNTER = "counter"
    QUANTITY = "quantity"
    LEAD = "lead"
    PAYMENT = "payment"
    SHIPPING = "shipping"
    REFUSE_DISCOUNT = "refuse_discount"


PRICE_ACTS: Final = frozenset({ActKind.DISCOUNT, ActKind.COUNTER, ActKind.REFUSE_DISCOUNT})
"""Rounds about the price; a thread has at most two of them, or haggling would dominate the data."""


def play_discount(builder: ThreadBuilder) -> None:
    """The buyer asks for a better price (maybe for a larger quantity); the supplier grants a percentage."""
    rng = builder.rng
    terms = builder.terms
    b = builder.draft("buyer", "negotiation")
    change_qty = rng.random() < 0.5 and len(terms.items) == 1 and not terms.items[0].tiers
    item = terms.items[0]
    new_qty = (
        builder.nice_quantity(round(item.quantity * rng.choice((1.5, 2, 2.5, 3)))) if change_qty else item.quantity
    )
    if rng.random() < 0.25:
        competitor = round_price(item.price * rng.uniform(0.85, 0.95), terms.currency)
        builder.add(b, builder.say("buyer", "competitor", price=builder.money("buyer", competitor)))
    if change_qty:
        builder.add(b, builder.say("buyer", "discount_request_qty", qty=builder.qty("buyer", item, new_qty)))
        b.gists.append(
            builder.gist(
                f"{builder.qty('buyer', item, new_qty)} 주문 시 할인 요청",
                f"asked for a discount for {builder.qty('buyer', item, new_qty)}",
            )
        )
    else:
        builder.add(b, builder.say("buyer", "discount_request"))
        b.gists.append(builder.gist("가격 조정 요청", "asked for a better price"))
    s = builder.draft("supplier", "response")
    percent = float(rng.choice((2, 3, 5, 5, 7, 8, 10, 12, 15)))
    if change_qty:
        item.quantity = new_qty
    targets = terms.items if len(terms.items) > 1 else [item]
    for target in targets:
        gross = target.price
        target.list_price = gross
        target.price = net_price(gross, percent, terms.currency)
        target.discount = percent
    exact = all(abs(t.list_price * (1 - percent / 100) - t.price) < 1e-9 for t in targets)
    lang = builder.supplier.lang
    if len(targets) > 1:
        scope = SCOPE_ALL[lang]
        phrase = builder.say("supplier", "discount_given_pct_only", scope=scope, d=percent_text(percent))
        if not exact or rng.random() < 0.6:
            lines = [f"- {t.product}: {builder.money('supplier', t.price)}" for t in targets]
            phrase += "\n" + "\n".join(lines)
        builder.add(s, phrase)
    else:
        scope = SCOPE_QTY[lang].format(qty=builder.qty("supplier", item)) if change_qty else SCOPE_SAME[lang]
        if exact and rng.random() < 0.2:
            builder.add(s, builder.say("supplier", "discount_given_pct_only", scope=scope, d=percent_text(percent)))
        else:
            builder.add(
                s,
                builder.say(
                    "supplier",
                    "discount_given",
                    scope=scope,
                    d=percent_text(percent),
                    net=builder.money("supplier", item.price),
                    per_unit=per_unit_ko(item.unit),
                    unit_one=unit_one(item.unit),
                ),
            )
    s.gists.append(
        builder.gist(
            f"{percent_text(percent)}% 할인 제공, 단가 {builder.summary_money(targets[0].price)}",
            f"offered {percent_text(percent)}% off, unit price {builder.summary_money(targets[0].price)}",
        )
    )
    if rng.random() < 0.4:
        builder.add(s, builder.say("supplier", "same_terms"))


def play_refuse_discount(builder: ThreadBuilder) -> None:
    """The buyer asks for a better price; the supplier declines, sometimes extending the warranty instead."""
    terms = builder.terms
    b = builder.draft("buyer", "negotiation")
    builder.add(b, builder.say("buyer", "discount_request"), builder.gist("가격 조정 요청", "asked for a better price"))
    s = builder.draft("supplier", "response")
    builder.add(
        s, builder.say("supplier", "refuse_discount"), builder.gist("추가 할인 불가", "declined to lower the price")
    )
    if builder.rng.random() < 0.5:
        terms.warranty = (terms.warranty or 12) + 12
        warranty = fmt_warranty(terms.warranty, builder.supplier.lang, builder.rng)
        builder.add(s, builder.say("supplier", "sweetener_warranty", warranty=warranty))
        s.gists.append(
            builder.gist(
                f"대신 보증 {terms.warranty}개월로 연장", f"extended the warranty to {terms.warranty} months instead"
            )
        )


def play_counter(builder: ThreadBuilder) -> None:
    """The buyer proposes a unit price; the supplier accepts it, meets half-way or keeps its price."""
    rng = builder.rng
    terms = builder.terms
    item = rng.choice(terms.items)
    counter = round_price(item.price * rng.uniform(0.82, 0.95), terms.currency)
    if counter >= item.price:
        counter = round_price(item.price * 0.9, terms.currency)
    b = builder.draft("buyer", "negotiation")
    builder.add(b, builder.say("buyer", "counter", **builder.item_values("buyer", item, counter)))
    b.gists.append(
        builder.gist(
            f"{item.product} 단가 {builder.summary_money(counter)} 제안",
            f"proposed {builder.summary_money(counter)} for {item.product}",
        )
    )
    s = builder.draft("supplier", "response")
    outcome = rng.choices(("accept", "middle", "reject"), (0.35, 0.3, 0.35))[0]
    builder.events.append(f"counter_{outcome}")
    if outcome == "accept":
        item.price, item.discount = counter, None
        builder.add(s, builder.say("supplier", "accept_counter", **builder.item_values("supplier", item, counter)))
        s.gists.append(
            builder.gist(f"{builder.summary_money(counter)} 수락", f"accepted {builder.summary_money(counter)}")
        )
    elif outcome == "middle":
        mid = round_price((counter + item.price) / 2, terms.currency)
        if mid in (counter, item.price):
            mid = item.price
        values = builder.item_values("supplier", item, counter)
        values["mid"] = builder.money("supplier", mid)
        item.price, item.discount = mid, None
        builder.add(s, builder.say("supplier", "meet_middle", **values))
        s.gists.append(
            builder.gist(f"{builder.summary_money(mid)}로 절충", f"met half-way at {builder.summary_money(mid)}")
        )
    else:
        values = builder.item_values("supplier", item, counter)
        values["old"] = builder.money("supplier", item.price)
        builder.add(s, builder.say("supplier", "reject_counter", **values))
        s.gists.append(
            builder.gist(
                f"{builder.summary_money(counter)} 거절, 기존 {builder.summary_money(item.price)} 유지",
                f"rejected {builder.summary_money(counter)}, kept {builder.summary_money(item.price)}",
            )
        )


def play_quantity(builder: ThreadBuilder) -> None:
    """The buyer changes a quantity; the supplier confirms (a tiered price follows the new quantity)."""
    rng = builder.rng
    item = rng.choice(builder.terms.items)
    factor = rng.choice((0.5, 0.8, 1.2, 1.5, 2.0, 3.0))
    new_qty = builder.nice_quantity(max(1, round(item.quantity * factor)))
    if new_qty == item.quantity:
        new_qty = item.quantity + max(1, item.quantity // 2)
    b = builder.draft("buyer", "negotiation")
    builder.add(
        b, builder.say("buyer", "quantity_change", product=item.product, qty=builder.qty("buyer", item, new_qty))
    )
    b.gists.append(
        builder.gist(
            f"{item.product} 수량 {builder.qty('buyer', item, new_qty)}로 변경 요청",
            f"changed the quantity of {item.product} to {builder.qty('buyer', item, new_qty)}",
        )
    )
    item.quantity = new_qty
    if item.tiers:
        item.price = builder.tier_price(item, new_qty)
        item.discount = None
    s = builder.draft("supplier", "response")
    builder.add(s, builder.say("supplier", "quantity_confirm", **builder.item_values("supplier", item)))
    s.gists.append(
        builder.gist(
            f"수량 변경 확인, 단가 {builder.summary_money(item.price)}",
            f"confirmed, unit price {builder.summary_money(item.price)}",
        )
    )


def play_lead(builder: ThreadBuilder) -> None:
    """The buyer asks for a shorter lead time; the supplier agrees or keeps the current one."""
    rng = builder.rng
    terms = builder.terms
    current = terms.lead_days or rng.choice((14, 21, 28, 30))
    weeks = current % 7 == 0 and rng.random() < 0.5
    wanted = max(3, current - rng.choice((7, 7, 14))) if weeks else max(3, current // 2)
    if weeks:
        wanted = max(7, (wanted // 7) * 7)
    b = builder.draft("buyer", "negotiation")
    builder.add(b, builder.say("buyer", "lead_request", lead=builder.lead("buyer", wanted, weeks)))
    b.gists.append(builder.gist(f"납기 {wanted}일로 단축 요청", f"asked for delivery within {wanted} days"))
    s = builder.draft("supplier", "response")
    if rng.random() < 0.6:
        terms.lead_days, terms.lead_in_weeks = wanted, weeks
        builder.add(s, builder.say("supplier", "lead_accept", lead=builder.lead("supplier", wanted, weeks)))
        s.gists.append(builder.gist(f"납기 {wanted}일 수락", f"agreed to {wanted} days"))
    else:
        terms.lead_days = current
        kept = builder.lead("supplier", current, weeks and current % 7 == 0)
        builder.add(s, builder.say("supplier", "lead_reject", old=kept))
        s.gists.append(builder.gist(f"납기 {current}일 유지", f"kept the lead time at {current} days"))


def play_payment(builder: ThreadBuilder) -> None:
    """The buyer asks for other payment terms; the supplier accepts them or keeps its own."""
    rng = builder.rng
    terms = builder.terms
    wanted = builder.payment_text(builder.buyer.lang)
    while wanted == terms.payment:
        wanted = builder.payment_text(builder.buyer.lang)
    b = builder.draft("buyer", "negotiation")
    builder.add(
        b,
        builder.say("buyer", "payment_request", payment=wanted),
        builder.gist(f"결제 조건 '{wanted}' 요청", f"asked for payment terms '{wanted}'"),
    )
    s = builder.draft("supplier", "response")
    if terms.payment is None or rng.random() < 0.5:
        terms.payment = wanted
        builder.add(
            s,
            builder.say("supplier", "payment_accept", payment=wanted),
            builder.gist("결제 조건 수락", "accepted the payment terms"),
        )
    else:
        builder.add(
            s,
            builder.say("supplier", "payment_reject", old=terms.payment),
            builder.gist(f"기존 결제 조건 '{terms.payment}' 유지", f"kept payment terms '{terms.payment}'"),
        )


def play_shipping(builder: ThreadBuilder) -> None:
    """The buyer asks for another shipping method; the supplier always agrees."""
    rng = builder.rng
    terms = builder.terms
    wanted = rng.choice([m for m in SHIPPING_PHRASES if m != terms.shipping])
    b = builder.draft("buyer", "negotiation")
    builder.add(
        b,
        builder.say("buyer", "shipping_request", ship=rng.choice(SHIPPING_PHRASES[wanted][builder.buyer.lang])),
        builder.gist(f"배송 방법 {wanted} 요청", f"asked to ship by {wanted}"),
    )
    s = builder.draft("supplier", "response")
    terms.shipping = wanted
    builder.add(
        s,
        builder.say("supplier", "shipping_accept", ship=rng.choice(SHIPPING_PHRASES[wanted][builder.supplier.lang])),
        builder.gist("배송 방법 변경 수락", "agreed to the shipping method"),
    )


@dataclass(frozen=True)
class Act:
    """How often a round of this kind is picked (relative weight) and the function that plays it."""

    play: Callable[[ThreadBuilder], None]
    weight: int


ACTS: Final[Mapping[ActKind, Act]] = MappingProxyType(
    {
        ActKind.DISCOUNT: Act(play_discount, 3),
        ActKind.COUNTER: Act(play_counter, 3),
        ActKind.QUANTITY: Act(play_quantity, 2),
        ActKind.LEAD: Act(play_lead, 1),
        ActKind.PAYMENT: Act(play_payment, 1),
        ActKind.SHIPPING: Act(play_shipping, 1),
        ActKind.REFUSE_DISCOUNT: Act(play_refuse_discount, 1),
    }
)
"""Every negotiation round. The order of ``ActKind`` is the order of the weighted draw: do not reorder it."""


def choose_rounds(builder: ThreadBuilder, rounds: int) -> list[ActKind]:
    """Distinct round kinds, drawn by weight, at most two about the price, no second discount."""
    kinds = list(ActKind)
    weights = [ACTS[kind].weight for kind in kinds]
    chosen: list[ActKind] = []
    while len(chosen) < rounds:
        pick = builder.rng.choices(kinds, weights)[0]
        if pick in chosen or (pick in PRICE_ACTS and len(PRICE_ACTS & set(chosen)) >= 2):
            continue
        if pick is ActKind.DISCOUNT and any(i.discount for i in builder.terms.items):
            continue
        chosen.append(pick)
    return chosen


def negotiate(builder: ThreadBuilder, rounds: int) -> None:
    """Choose the rounds first, then play them in order, recording each as an event."""
    for kind in choose_rounds(builder, rounds):
        ACTS[kind].play(builder)
        builder.events.append(kind.value)
