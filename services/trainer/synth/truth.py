"""The ground truth of a built thread: its key facts (SPEC.md §1), the reference summary and the tags.

Everything here reads a :class:`~services.trainer.synth.model.BuiltThread` whose terms are final, and
nothing draws randomness, so the truth of a thread is the same whether or not its mail was rendered.
"""

from __future__ import annotations

from services.trainer.synth.acts import ActKind
from services.trainer.synth.formatting import fmt_qty, percent_text, summary_money
from services.trainer.synth.mailtext import written_text
from services.trainer.synth.model import BuiltThread, Mode, Person
from shared.events import KeyFacts, LineItem, Party

_SUMMARY_TITLES = {
    "inquiry": ("초기 문의", "Initial inquiry"),
    "offer": ("제안", "Offer"),
    "negotiation": ("협상", "Negotiation"),
    "response": ("답변", "Reply"),
    "quote_request": ("견적 요청", "Quote request"),
    "final_quote": ("견적서 송부", "Quotation"),
    "confirmation": ("주문 확인", "Confirmation"),
    "follow_up": ("후속 문의", "Follow-up"),
}
"""Summary heading of each draft's title key, in Korean and English."""

_NEGOTIATION_EVENTS = frozenset(kind.value for kind in ActKind)


def summary_language(mode: Mode) -> str:
    """Summaries and gists are English for English threads and Korean otherwise (mixed threads included)."""
    return "en" if mode == "en" else "ko"


def all_written_text(thread: BuiltThread) -> str:
    """Everything the correspondents wrote themselves, without forwards and quoted history."""
    return "\n".join(written_text(draft, mail) for draft, mail in zip(thread.drafts, thread.mails, strict=True))


def _party(person: Person, written: str) -> Party:
    """A correspondent; the company only when the mail names it (the truth never knows more than the text)."""
    return Party(name=person.name, company=person.company if person.company in written else None, email=person.email)


def key_facts(thread: BuiltThread) -> KeyFacts:
    """The expected extraction: latest terms; prices and currency only once the supplier has priced."""
    terms = thread.terms
    priced = thread.kind != "inquiry_only"
    written = all_written_text(thread)
    items = [
        LineItem(
            product=i.product,
            quantity=float(i.quantity),
            unit=i.unit,
            unit_price=i.price if priced else None,
            currency=terms.currency if priced else None,
            discount_percent=i.discount,
        )
        for i in terms.items
    ]
    return KeyFacts(
        buyer=_party(thread.buyer, written),
        supplier=_party(thread.supplier, written),
        currency=terms.currency if priced or terms.budget is not None else None,
        items=items,
        moq=terms.moq,
        delivery_lead_time_days=terms.lead_days,
        delivery_date=terms.delivery_date.isoformat() if terms.delivery_date else None,
        shipping_method=terms.shipping,  # type: ignore[arg-type]
        incoterm=terms.incoterm,  # type: ignore[arg-type]
        payment_terms=terms.payment,
        warranty_months=terms.warranty,
        budget=terms.budget,
        quote_requested=terms.quote_requested,
    )


def summary(thread: BuiltThread, facts: KeyFacts) -> str:
    """The reference summary: one numbered section per message with its gists, then the final terms."""
    ko = summary_language(thread.mode) == "ko"
    currency = thread.terms.currency
    lines = []
    for number, draft in enumerate(thread.drafts, start=1):
        writer = thread.person(draft.side)
        title = _SUMMARY_TITLES[draft.title_key][0 if ko else 1]
        lines.append(f"{number}. {title}:")
        sender_company = f", {writer.company}" if writer.company else ""
        lines.append(f"• {'발신자' if ko else 'From'}: {writer.name}{sender_company}".rstrip(".") + ".")
        for gist in draft.gists:
            lines.append(f"• {gist}".rstrip(".") + ".")
    final = []
    for item in facts.items:
        piece = f"{item.product} {fmt_qty(item.quantity or 0, item.unit or '', 'ko' if ko else 'en')}"
        if item.unit_price is not None:
            piece += f" @ {summary_money(item.unit_price, currency)}"
        if item.discount_percent:
            piece += f" ({percent_text(item.discount_percent)}% {'할인' if ko else 'discount'})"
        final.append(piece)
    extras = []
    if facts.moq:
        extras.append(f"MOQ {round(facts.moq):,}")
    if facts.delivery_lead_time_days:
        extras.append(f"{'납기' if ko else 'lead time'} {facts.delivery_lead_time_days}{'일' if ko else ' days'}")
    if facts.delivery_date:
        extras.append(f"{'납품일' if ko else 'delivery date'} {facts.delivery_date}")
    if facts.incoterm:
        extras.append(facts.incoterm)
    if facts.payment_terms:
        extras.append(f"{'결제' if ko else 'payment'}: {facts.payment_terms}")
    if facts.warranty_months:
        extras.append(f"{'보증' if ko else 'warranty'} {facts.warranty_months}{'개월' if ko else ' months'}")
    if facts.shipping_method:
        extras.append(f"{'배송' if ko else 'shipping'}: {facts.shipping_method}")
    label = "최종 조건" if ko else "Final terms"
    lines.append(f"{label}: {'; '.join(final + extras)}.")
    return "\n".join(lines)


def tags(thread: BuiltThread, facts: KeyFacts) -> list[str]:
    """Topic tags in the summary language, in a fixed order, each at most once."""
    ko = summary_language(thread.mode) == "ko"
    found = ["거래" if ko else "trade", thread.industry.label_ko if ko else thread.industry.label_en]

    def add(flag: bool, korean: str, english: str) -> None:
        if flag:
            found.append(korean if ko else english)

    add(any(e in _NEGOTIATION_EVENTS for e in thread.events), "협상", "negotiation")
    add(bool(facts.quote_requested), "견적 요청", "quote request")
    add(any(i.discount_percent for i in facts.items), "할인", "discount")
    add(ActKind.QUANTITY.value in thread.events, "수량 변경", "quantity change")
    add(facts.payment_terms is not None, "결제 조건", "payment terms")
    add(facts.shipping_method is not None or facts.delivery_lead_time_days is not None, "배송", "delivery")
    add(facts.warranty_months is not None, "보증", "warranty")
    add(facts.incoterm is not None, "인코텀즈", "incoterms")
    add(thread.kind == "inquiry_only", "가격 문의", "price inquiry")
    add(thread.mode != "ko" or thread.terms.currency != "KRW", "수출입", "international trade")
    add(any(p.lang == "ko" or p.domain.endswith(".kr") for p in (thread.buyer, thread.supplier)), "한국", "Korea")
    return found
