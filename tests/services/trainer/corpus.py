"""Small, deterministic correction data for the trainer tests: threads with the facts a reviewer confirmed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from shared.events import FactsCorrected, KeyFacts, LineItem, NormalizedMessage, NormalizedThread, Party

PRODUCTS = [
    ("X 제품", "개"),
    ("스테인리스 밸브", "개"),
    ("LED 패널", "세트"),
    ("ball valve DN50", "pcs"),
    ("nylon yarn", "kg"),
]
BUYERS = [("김서연", "한빛무역", "seoyeon.kim@hanbit-trading.co.kr"), ("Jane Doe", "Acme Co.", "jane@acme.example")]
SUPPLIERS = [("박준호", "대양부품", "junho.park@daeyang-parts.com"), ("Tom Lee", "Valvex Ltd.", "tom@valvex.example")]


def make_thread(index: int, tenant: str = "default") -> tuple[NormalizedThread, KeyFacts]:
    """One two-message thread (request, offer) and its true key facts."""
    rng = random.Random(index)
    product, unit = PRODUCTS[index % len(PRODUCTS)]
    buyer, supplier = BUYERS[index % 2], SUPPLIERS[index % 2]
    korean = index % 2 == 0
    quantity = rng.choice([50, 100, 200, 500])
    price = rng.choice([9500, 12000, 48000]) if korean else rng.choice([12.5, 30.0, 7.25])
    currency = "KRW" if korean else "USD"
    days = rng.choice([7, 14, 21])
    start = datetime(2025, 3, 1, 9, tzinfo=UTC) + timedelta(days=index)
    if korean:
        request = f"안녕하세요. {product} {quantity}{unit} 견적 부탁드립니다."
        offer = f"{product} 단가 {price:,.0f}원, 납기 {days}일입니다. 견적서 첨부합니다."
    else:
        request = f"Hello, please send a quotation for {quantity} {unit} of {product}."
        offer = f"Unit price {price} USD for {product}, delivery in {days} days, FOB Busan."
    messages = [
        NormalizedMessage(
            message_id=f"m{index}-1@test",
            sender_name=buyer[0],
            sender_email=buyer[2],
            sender_company=buyer[1],
            role="buyer",
            date=start,
            language="ko" if korean else "en",
            subject="견적 요청" if korean else "Request for quotation",
            text=request,
            content_hash=f"h{index}-1",
        ),
        NormalizedMessage(
            message_id=f"m{index}-2@test",
            in_reply_to=f"m{index}-1@test",
            sender_name=supplier[0],
            sender_email=supplier[2],
            sender_company=supplier[1],
            role="supplier",
            date=start + timedelta(hours=3),
            language="ko" if korean else "en",
            subject="RE: 견적 요청" if korean else "RE: Request for quotation",
            text=offer,
            content_hash=f"h{index}-2",
        ),
    ]
    thread = NormalizedThread(
        thread_id=f"thread-{index}",
        tenant=tenant,
        version=2,
        subject=messages[0].subject,
        language="ko" if korean else "en",
        messages=messages,
    )
    facts = KeyFacts(
        buyer=Party(name=buyer[0], company=buyer[1], email=buyer[2]),
        supplier=Party(name=supplier[0], company=supplier[1], email=supplier[2]),
        currency=currency,
        items=[LineItem(product=product, quantity=quantity, unit=unit, unit_price=price, currency=currency)],
        delivery_lead_time_days=days,
        incoterm=None if korean else "FOB",
        quote_requested=True,
    )
    return thread, facts


def make_correction(index: int, tenant: str = "default") -> tuple[NormalizedThread, FactsCorrected]:
    """A thread and a reviewer's correction of it (with summary and tags on every other one)."""
    thread, facts = make_thread(index, tenant)
    with_summary = index % 2 == 0
    return thread, FactsCorrected(
        thread_id=thread.thread_id,
        tenant=tenant,
        facts=facts,
        summary=f"{thread.messages[0].text} / {thread.messages[1].text}" if with_summary else None,
        tags=["견적", "가격"] if with_summary else None,
        corrected_by="reviewer-1",
    )
