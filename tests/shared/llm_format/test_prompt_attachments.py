"""The LLM reads attachment parts in the prompt (trimmed), and grounding finds values in them."""

from __future__ import annotations

from datetime import UTC, datetime

from services.extract.llm.grounding import ground
from shared.events import AttachmentPart, KeyFacts, LineItem, NormalizedMessage, NormalizedThread
from shared.llm_format.prompts import ATTACHMENT_PROMPT_CHARS, build_prompt, render_thread

TABLE = "품명 | 수량 | 단가\nX 제품 | 100 | 9,500"


def thread(part_text: str) -> NormalizedThread:
    message = NormalizedMessage(
        message_id="m1",
        sender_email="junho.park@daeyang-parts.co.kr",
        role="supplier",
        date=datetime(2026, 3, 2, tzinfo=UTC),
        text="첨부된 견적서를 확인해주시기 바랍니다.",
        content_hash="h",
        attachment_parts=[
            AttachmentPart(filename="견적서.pdf", content_type="application/pdf", kind="pdf", text=part_text)
        ],
    )
    return NormalizedThread(thread_id="t1", messages=[message])


def test_attachment_text_follows_the_message_text() -> None:
    rendered = render_thread(thread(TABLE))
    expected = "첨부된 견적서를 확인해주시기 바랍니다.\n\n[attachment 견적서.pdf (pdf)]\n" + TABLE
    assert expected in rendered


def test_long_attachments_are_trimmed() -> None:
    long = TABLE + "\n" + "\n".join(f"line {i} of the catalogue" for i in range(2000))
    rendered = render_thread(thread(long))
    assert "[... attachment truncated ...]" in rendered
    assert len(rendered) < ATTACHMENT_PROMPT_CHARS + 400
    prompt = build_prompt("facts", thread(long), budget_tokens=1500)
    assert prompt.estimated_tokens <= 1500


def test_threads_without_attachments_render_as_before() -> None:
    plain = thread(TABLE).model_copy(deep=True)
    plain.messages[0].attachment_parts = []
    assert "[attachment" not in render_thread(plain)


def test_grounding_accepts_values_stated_only_in_an_attachment() -> None:
    facts = KeyFacts(items=[LineItem(product="X 제품", quantity=100, unit_price=9500, currency="KRW")])
    result = ground(facts, thread(TABLE + "\n금액 단위: 원"))
    assert result.facts.items[0].unit_price == 9500
    price = next(e for e in result.evidence if e.field == "items.0.unit_price")
    assert (price.message_id, price.attachment, price.text) == ("m1", 0, "9,500")
