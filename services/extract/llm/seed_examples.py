"""Few-shot examples shipped with the engine, for a base model before any correction exists.

Gemma 3 270M is a base model: asked zero-shot it rambles (measured: every value dropped by
grounding), shown two worked threads it answers in the right shape. These three small
threads (an English offer, a Korean negotiation, an inquiry that states no price) are
written by hand, with the facts a reviewer would confirm; the correction store's own
examples replace them as soon as a tenant has some. Their values are deliberately unlike
real offers (odd prices, invented products): a model that copies an example's value is
caught by grounding, since the number is not in the thread it reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from shared.events import KeyFacts, NormalizedMessage, NormalizedThread
from shared.llm_format.answers import LlmAnswer
from shared.llm_format.prompts import FewShotExample

Person = tuple[str, str, str]  # name, e-mail, company

_ALICE: Person = ("Alice Moreau", "alice@northwind-supply.example", "Northwind Supply")
_RAJ: Person = ("Raj Patel", "raj.patel@lumen-optics.example", "Lumen Optics")
_JIWOO: Person = ("이지우", "jiwoo.lee@saebyeok-trading.example", "새벽상사")
_MINHO: Person = ("최민호", "minho.choi@hanul-chem.example", "한울화학")


def _thread(
    thread_id: str, subject: str, language: str, turns: list[tuple[str, Person, Person, str]]
) -> NormalizedThread:
    start = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
    messages = [
        NormalizedMessage(
            message_id=f"{thread_id}-{index}@seed.quoteflow",
            in_reply_to=f"{thread_id}-{index - 1}@seed.quoteflow" if index else None,
            sender_name=sender[0],
            sender_email=sender[1],
            sender_company=sender[2],
            to=[recipient[1]],
            role=role,  # type: ignore[arg-type]
            date=start + timedelta(hours=5 * index),
            subject=subject if index == 0 else f"RE: {subject}",
            language=language,  # type: ignore[arg-type]
            text=text,
            content_hash=f"seed-{thread_id}-{index}",
            arrival=index,
        )
        for index, (role, sender, recipient, text) in enumerate(turns)
    ]
    return NormalizedThread(
        thread_id=thread_id,
        tenant="default",
        version=len(messages),
        subject=subject,
        language=language,  # type: ignore[arg-type]
        messages=messages,
        started_at=start,
        updated_at=start,
    )


def _party(party: Person) -> dict[str, str]:
    return {"name": party[0], "email": party[1], "company": party[2]}


def _facts(**values: object) -> KeyFacts:
    empty = {name: None for name in KeyFacts.model_fields if name not in ("items", "buyer", "supplier")}
    return KeyFacts.model_validate({**empty, "items": [], **values})


@cache
def seed_examples() -> tuple[FewShotExample, ...]:
    """The shipped examples, built once."""
    english = _thread(
        "seed-en-offer",
        "Quotation request: lens caps LC-38",
        "en",
        [
            (
                "buyer",
                _ALICE,
                _RAJ,
                "Hi Raj,\nCould you quote 240 pcs of the LC-38 lens cap? We need them in Rotterdam.",
            ),
            (
                "supplier",
                _RAJ,
                _ALICE,
                "Hi Alice,\nLC-38 lens cap: USD 3.17 per piece, minimum order 200 pcs. Lead time 3 weeks, "
                "CIF Rotterdam by sea. Payment 30% deposit, balance before shipment.",
            ),
        ],
    )
    korean = _thread(
        "seed-ko-negotiation",
        "세척제 HC-7 단가 문의",
        "ko",
        [
            ("buyer", _JIWOO, _MINHO, "안녕하세요. 세척제 HC-7 60통 견적 부탁드립니다."),
            ("supplier", _MINHO, _JIWOO, "HC-7은 통당 41,300원입니다. 납기는 발주 후 12일입니다."),
            ("buyer", _JIWOO, _MINHO, "단가를 38,000원으로 맞춰주실 수 있을까요?"),
            (
                "supplier",
                _MINHO,
                _JIWOO,
                "38,000원은 어렵고, 4% 할인하여 통당 39,648원으로 드리겠습니다. 결제는 익월 말 현금입니다.",
            ),
        ],
    )
    inquiry = _thread(
        "seed-en-inquiry",
        "Pressure gauges for the new line",
        "en",
        [
            (
                "buyer",
                _ALICE,
                _RAJ,
                "Hello,\nWe are planning a new filling line and may need about 35 pressure gauges PG-9. "
                "Our budget is around EUR 4,600. Could you send a quotation?",
            ),
        ],
    )
    return (
        FewShotExample(
            english,
            LlmAnswer(
                facts=_facts(
                    buyer=_party(_ALICE),
                    supplier=_party(_RAJ),
                    currency="USD",
                    items=[
                        {
                            "product": "LC-38 lens cap",
                            "quantity": 240,
                            "unit": "pcs",
                            "unit_price": 3.17,
                            "currency": "USD",
                            "discount_percent": None,
                        }
                    ],
                    moq=200,
                    delivery_lead_time_days=21,
                    shipping_method="sea",
                    incoterm="CIF",
                    payment_terms="30% deposit, balance before shipment",
                    quote_requested=True,
                ),
                summary="1. Alice Moreau asks for a quote for 240 LC-38 lens caps.\n2. Raj Patel offers USD 3.17 "
                "per piece, MOQ 200, 3 weeks, CIF Rotterdam by sea.\nFinal terms: 240 pcs at USD 3.17.",
                tags=["quotation", "lens caps", "CIF"],
            ),
        ),
        FewShotExample(
            korean,
            LlmAnswer(
                facts=_facts(
                    buyer=_party(_JIWOO),
                    supplier=_party(_MINHO),
                    currency="KRW",
                    items=[
                        {
                            "product": "세척제 HC-7",
                            "quantity": 60,
                            "unit": "통",
                            "unit_price": 39648,
                            "currency": "KRW",
                            "discount_percent": 4,
                        }
                    ],
                    delivery_lead_time_days=12,
                    payment_terms="익월 말 현금",
                    quote_requested=True,
                ),
                summary="1. 이지우: HC-7 60통 견적 요청\n2. 최민호: 통당 41,300원, 납기 12일\n"
                "3. 이지우: 38,000원 요청\n4. 최민호: 4% 할인, 통당 39,648원, 익월 말 현금\n최종: 60통, 통당 39,648원",
                tags=["견적 요청", "가격 협상", "할인"],
            ),
        ),
        FewShotExample(
            inquiry,
            LlmAnswer(
                facts=_facts(
                    buyer=_party(_ALICE),
                    supplier={"name": None, "email": _RAJ[1], "company": None},
                    currency="EUR",
                    items=[
                        {
                            "product": "pressure gauge PG-9",
                            "quantity": 35,
                            "unit": None,
                            "unit_price": None,
                            "currency": None,
                            "discount_percent": None,
                        }
                    ],
                    budget=4600,
                    quote_requested=True,
                ),
                summary="1. Alice Moreau asks for a quotation for about 35 PG-9 pressure gauges, budget EUR 4,600.\n"
                "Final terms: none offered yet.",
                tags=["inquiry", "pressure gauges", "budget"],
            ),
        ),
    )
