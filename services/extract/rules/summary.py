"""Summary in the talk's format: numbered messages, sender line, bullet points, then the final terms.

Written in the thread's language from the statements the engine read, so every
bullet is backed by the text (faithful by construction); a message with nothing
extractable is summarised by its first sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from services.extract.rules import terms
from services.extract.rules.negotiation import (
    BudgetStatement,
    PriceStatement,
    QuantityStatement,
    Statement,
    TierStatement,
)
from services.extract.rules.numbers import clean_number
from shared.events import KeyFacts, NormalizedThread

if TYPE_CHECKING:
    from services.extract.rules.resolve import Resolved
    from services.extract.rules.state import ThreadState
    from services.extract.rules.text import MessageView

_ROLE = {
    "ko": {"buyer": "구매자", "supplier": "공급자", "unknown": "발신자"},
    "en": {"buyer": "buyer", "supplier": "supplier", "unknown": "sender"},
}
_SHIPPING_KO = {
    "air": "항공",
    "sea": "해상",
    "express": "특송",
    "standard": "일반 배송",
    "courier": "택배",
    "rail": "철도",
    "truck": "트럭",
}
_TOPICS = (
    ("가격", "price", re.compile(r"가격|단가|price|cost|how much", re.I)),
    ("납기", "lead time", re.compile(r"납기|배송 ?기간|lead ?time|delivery time|언제", re.I)),
    ("할인", "discount", re.compile(r"할인|discount", re.I)),
    ("결제 조건", "payment terms", re.compile(r"결제|payment", re.I)),
    ("최소 주문 수량", "MOQ", re.compile(r"최소 ?주문|MOQ|minimum order", re.I)),
    ("견적서", "a quotation", re.compile(r"견적|quot", re.I)),
    ("배송 방법", "shipping", re.compile(r"배송 ?방법|shipping|운송", re.I)),
    ("보증", "warranty", re.compile(r"보증|warrant", re.I)),
)


def _money(value: float, currency: str | None, korean: bool) -> str:
    number = clean_number(value)
    text = f"{number:,}" if isinstance(number, int) else f"{number:,.2f}"
    if korean and currency == "KRW":
        return f"{text}원"
    return f"{currency} {text}" if currency else text


def _currency_of(statement: Statement) -> str | None:
    """The currency a price, tier or budget statement was written in."""
    if isinstance(statement, PriceStatement | TierStatement | BudgetStatement):
        return statement.currency
    return None


def _statements_of(state: ThreadState, order: int) -> list[tuple[str, str | None, Statement]]:
    found: list[tuple[str, str | None, Statement]] = []
    for name, track in state.fields.items():
        for statement in track.statements:
            if statement.order == order:
                found.append((name, None, statement))
    for item in state.items:
        stated: tuple[tuple[str, Sequence[Statement]], ...] = (
            ("quantity", item.quantity.statements),
            ("price", item.price.statements),
            ("discount", item.discount.statements),
            ("tier", item.tiers),
        )
        for name, statements in stated:
            for statement in statements:
                if statement.order == order:
                    found.append((name, item.name, statement))
    return found


def _bullet(name: str, product: str | None, statement: Statement, korean: bool) -> str | None:
    value: Any = statement.value
    verb_ko = "요청" if statement.role != "supplier" else "제시"
    verb_en = "asked for" if statement.role != "supplier" else "offered"
    what = f"{product} " if product else ""
    if name == "price":
        money = _money(float(value), _currency_of(statement), korean)
        return f"{what}단가 {money} {verb_ko}" if korean else f"{verb_en} {what}at {money} per unit"
    if name == "quantity":
        unit = (statement.unit if isinstance(statement, QuantityStatement) else None) or ""
        amount = f"{clean_number(float(value))}{'' if korean else ' '}{unit}".strip()
        return f"{what}수량 {amount}" if korean else f"quantity {what}{amount}".replace("  ", " ")
    if name == "discount":
        return (
            f"{clean_number(float(value))}% 할인 {verb_ko}"
            if korean
            else f"{verb_en} a {clean_number(float(value))}% discount"
        )
    if name == "tier":
        low, high = (statement.low, statement.high) if isinstance(statement, TierStatement) else (None, None)
        band = f"{clean_number(low or 0)}–{clean_number(high)}" if high else f"{clean_number(low or 0)}+"
        money = _money(float(value), _currency_of(statement), korean)
        return f"{what}수량 {band}: 단가 {money}" if korean else f"tier {band}: {money} per unit"
    if name == "moq":
        return f"최소 주문 수량 {clean_number(float(value))}" if korean else f"MOQ {clean_number(float(value))}"
    if name == "delivery_lead_time_days":
        return f"납기 주문 후 {value}일" if korean else f"lead time {value} days"
    if name == "delivery_date":
        return f"납품일 {value}" if korean else f"delivery by {value}"
    if name == "shipping_method":
        return f"{_SHIPPING_KO.get(str(value), value)} 운송" if korean else f"shipping by {value}"
    if name == "incoterm":
        return f"인코텀즈 {statement.sources[0].text}" if korean else f"Incoterms: {statement.sources[0].text}"
    if name == "payment_terms":
        return f"결제 조건: {value}" if korean else f"payment terms: {value}"
    if name == "warranty_months":
        return f"보증 {value}개월" if korean else f"warranty {value} months"
    if name == "budget":
        amount, currency = value, _currency_of(statement)
        return (
            f"예산 {_money(float(amount), currency, korean)}"
            if korean
            else f"budget {_money(float(amount), currency, korean)}"
        )
    return None


def _label(view: MessageView, index: int, state: ThreadState, korean: bool, asked_quote: bool) -> str:
    decision = state.decisions.get(view.index)
    has_offer = any(s.role == "supplier" for _, _, s in _statements_of(state, view.index))
    if view.role == "supplier":
        if decision == "reject":
            return "역제안 거절" if korean else "Counter-offer declined"
        if decision in ("accept", "halfway") and not has_offer:
            return "조건 수락" if korean else "Terms accepted"
        if re.search(r"견적서|quotation|quote", view.body, re.I) and not has_offer:
            return "견적서 송부" if korean else "Quotation sent"
        return ("답변 및 가격 제시" if has_offer else "답변") if korean else ("Offer" if has_offer else "Reply")
    if index == 0:
        return (
            ("초기 문의 및 견적 요청" if asked_quote else "초기 문의")
            if korean
            else ("Initial inquiry and quote request" if asked_quote else "Initial inquiry")
        )
    if any(
        s.role != "supplier" and name in ("price", "discount") for name, _, s in _statements_of(state, view.index)
    ) or re.search(r"할인|조정|discount|lower|better price|could you do", view.body, re.I):
        return "가격 협상" if korean else "Negotiation"
    if asked_quote:
        return "견적서 요청" if korean else "Quote request"
    return "회신" if korean else "Reply"


def _sender_line(view: MessageView, korean: bool, companies: dict[str, str | None]) -> str:
    role = _ROLE["ko" if korean else "en"].get(view.role, "")
    parts = [view.sender_name or view.sender_email or ("알 수 없음" if korean else "unknown")]
    details = [role]
    company = companies.get(view.role)
    if company:
        details.append(company)
    prefix = "발신자" if korean else "From"
    return f"{prefix}: {parts[0]} ({', '.join(details)})"


def _first_sentence(view: MessageView) -> str | None:
    for clause in view.clauses:
        if (
            clause.injection
            or len(clause.text) < 8
            or re.match(r"(?i)^(?:dear|hi|hello|안녕하세요|안녕하십니까)\b", clause.text)
        ):
            continue
        if re.fullmatch(r"(?i)(?:thank you|thanks|감사합니다)[^.]{0,40}[.!]?", clause.text):
            continue
        text = clause.text
        return text if len(text) <= 120 else text[:117].rstrip() + "…"
    return None


def _final_terms(facts: KeyFacts, korean: bool, vat: str | None) -> list[str]:
    lines: list[str] = []
    for item in facts.items:
        what = item.product or ("품목" if korean else "item")
        parts = [what]
        if item.quantity is not None:
            parts.append(f"{clean_number(item.quantity)}{'' if korean else ' '}{item.unit or ''}".strip())
        if item.unit_price is not None:
            money = _money(item.unit_price, item.currency, korean)
            parts.append(f"단가 {money}" if korean else f"{money} per unit")
        if item.discount_percent is not None:
            parts.append(
                f"{clean_number(item.discount_percent)}% 할인"
                if korean
                else f"{clean_number(item.discount_percent)}% discount"
            )
        lines.append(", ".join(parts))
    labels = (
        ("moq", "최소 주문 수량", "MOQ"),
        ("delivery_lead_time_days", "납기(일)", "Lead time (days)"),
        ("delivery_date", "납품일", "Delivery date"),
        ("shipping_method", "배송 방법", "Shipping"),
        ("incoterm", "인코텀즈", "Incoterm"),
        ("payment_terms", "결제 조건", "Payment terms"),
        ("warranty_months", "보증(개월)", "Warranty (months)"),
        ("budget", "예산", "Budget"),
    )
    data = facts.model_dump()
    for key, ko, en in labels:
        value = data.get(key)
        if value is not None:
            shown = clean_number(value) if isinstance(value, float) else value
            lines.append(f"{ko if korean else en}: {shown}")
    if vat:
        korean_vat = {"excluded": "부가세 별도", "included": "부가세 포함", "exempt": "부가세 면세"}.get(vat, vat)
        lines.append(korean_vat if korean else f"VAT {vat}")
    return lines


def summarize(thread: NormalizedThread, views: list[MessageView], state: ThreadState, resolved: Resolved) -> str:
    """Numbered messages with sender and bullets, then the final terms, in the thread's language."""
    korean = thread.language == "ko" or (
        thread.language == "mixed" and sum(v.language == "ko" for v in views) * 2 >= len(views)
    )
    facts = resolved.facts
    companies = {
        "buyer": facts.buyer.company if facts.buyer else None,
        "supplier": facts.supplier.company if facts.supplier else None,
    }
    blocks: list[str] = []
    for number, view in enumerate(views, start=1):
        asked_quote = view.role != "supplier" and bool(terms.QUOTE_REQUEST.search(view.body))
        bullets = [b for b in (_bullet(n, p, s, korean) for n, p, s in _statements_of(state, view.index)) if b]
        bullets = list(dict.fromkeys(bullets))
        if view.role != "supplier":
            asked = [
                ko if korean else en
                for ko, en, pattern in _TOPICS
                if pattern.search(
                    " ".join(
                        c.text
                        for c in view.clauses
                        if c.question or "?" in c.text or "알려" in c.text or "문의" in c.text
                    )
                )
            ]
            if asked:
                bullets.insert(0, (", ".join(asked) + " 문의") if korean else "asked about " + ", ".join(asked))
        if not bullets:
            sentence = _first_sentence(view)
            if sentence:
                bullets.append(sentence)
        label = _label(view, number - 1, state, korean, asked_quote)
        lines = [f"{number}. {label}:", f"  • {_sender_line(view, korean, companies)}"]
        lines += [f"  • {b}" for b in bullets]
        blocks.append("\n".join(lines))
    final = _final_terms(facts, korean, resolved.vat)
    if final:
        blocks.append(("최종 조건:" if korean else "Final terms:") + "\n" + "\n".join(f"  • {line}" for line in final))
    return "\n".join(blocks)
