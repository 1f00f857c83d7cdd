"""The desk's pages and decisions with FastAPI's TestClient, the consumers on faststream's TestKafkaBroker."""

from __future__ import annotations

import pytest

from services.review.records import record_key
from shared import topics
from shared.events import FactsExtracted, NormalizedThread, QuoteGenerated
from tests.services.review.conftest import Desk

Talk = tuple[NormalizedThread, FactsExtracted]


def _doubtful(facts: FactsExtracted) -> FactsExtracted:
    return facts.model_copy(
        update={"needs_review": True, "warnings": ["disagreement: items.0.unit_price llm=9000.0 rules=9500.0"]}
    )


async def test_signed_out_pages_go_to_the_sign_in(desk: Desk) -> None:
    response = desk.client.get("/queue", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/queue"


async def test_wrong_password_is_refused(desk: Desk) -> None:
    token = desk.csrf("/login")
    response = desk.client.post("/login", data={"csrf_token": token, "username": "minji", "password": "nope"})
    assert response.status_code == 401
    assert "wrong user name or password" in response.text
    assert desk.client.get("/queue", follow_redirects=False).status_code == 303


async def test_queue_shows_doubtful_threads_first(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    calm = facts.model_copy(update={"thread_id": "t-calm"})
    await desk.add_thread(thread.model_copy(update={"thread_id": "t-calm"}), calm)
    await desk.add_thread(thread, _doubtful(facts))
    desk.login("minji")
    page = desk.client.get("/queue").text
    assert page.index(thread.thread_id) < page.index("t-calm")
    assert "rules and LLM disagree: items.0.unit_price" in page
    assert "needs review" in page
    only_pending = desk.client.get("/queue?status=pending").text
    assert "t-calm" in only_pending and thread.thread_id not in only_pending


async def test_thread_page_marks_the_evidence(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    desk.login("minji")
    page = desk.client.get(f"/t/default/{thread.thread_id}").text
    price = next(e for e in facts.evidence if e.field == "items.0.unit_price")
    assert 'id="ev-items-0-unit_price"' in page or "ev-items-0-unit_price" in page
    assert f"{price.text}<sup>" in page
    assert 'href="#ev-items-0-unit_price"' in page
    assert 'name="items.0.unit_price" id="f-ev-items-0-unit_price" value="9500"' in page


async def test_approve_publishes_confirmed_facts(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, _doubtful(facts))
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    response = desk.client.post(f"{path}/approve", data={"csrf_token": token, "basis": desk.basis(path)})
    assert response.status_code == 200
    assert [c.confirmed for c in desk.corrections] == [True]
    correction = desk.corrections[0]
    assert correction.facts == facts.facts and correction.changed_fields == []
    assert correction.corrected_by == "minji" and correction.thread_version == facts.thread_version
    assert "approved" in response.text and "minji" in response.text
    registry = desk.runtime.metrics.registry
    labels = {"service": "review", "action": "approved"}
    assert registry.get_sample_value("quoteflow_review_decisions_total", labels) == 1
    assert registry.get_sample_value("quoteflow_review_sign_ins_total", {"service": "review", "outcome": "ok"}) == 1


async def test_correct_and_approve_publishes_the_changed_fields(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, _doubtful(facts))
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    form = _form(desk, path)
    form.update({"csrf_token": token, "items.0.unit_price": "9,000"})
    response = desk.client.post(f"{path}/correct", data=form)
    assert response.status_code == 200, response.text
    correction = desk.corrections[-1]
    assert correction.facts.items[0].unit_price == 9000
    assert correction.changed_fields == ["items.0.unit_price"]
    assert correction.confirmed
    audit = response.text[response.text.index("Audit log") :]
    assert "items.0.unit_price" in audit and "9500" in audit and "9000" in audit and "corrected" in audit
    record = await desk.store.get(record_key("default", thread.thread_id))
    assert record is not None and b'"status":"corrected"' in record


async def test_an_invalid_value_is_shown_not_published(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    form = _form(desk, path) | {"csrf_token": token, "items.0.quantity": "a hundred", "incoterm": "XYZ"}
    response = desk.client.post(f"{path}/correct", data=form)
    assert response.status_code == 422
    assert "a hundred" in response.text and "valid number" in response.text
    assert desk.corrections == []


async def test_reject_publishes_nothing_and_is_audited(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    response = desk.client.post(
        f"{path}/reject", data={"csrf_token": token, "basis": desk.basis(path), "note": "spam offer"}
    )
    assert response.status_code == 200
    assert "rejected" in response.text and "spam offer" in response.text
    assert desk.corrections == []


async def test_a_decision_on_a_stale_page_is_refused(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    old_basis = desk.basis(path)
    newer = facts.model_copy(update={"thread_version": facts.thread_version + 1})
    await desk.publish(topics.FACTS_EXTRACTED, newer.model_dump_json().encode(), facts.thread_id)
    response = desk.client.post(f"{path}/approve", data={"csrf_token": token, "basis": old_basis})
    assert response.status_code == 409
    assert desk.corrections == []


async def test_quote_revisions_are_listed_and_served_sandboxed(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    quote = QuoteGenerated(
        thread_id=thread.thread_id,
        quote_number="Q-2026-000001",
        markdown="# q",
        html="<html><body><h1>견적서</h1><script>alert(1)</script></body></html>",
        facts_hash=facts.facts.content_hash(),
        total="1045000",
        currency="KRW",
    )
    await desk.publish(topics.QUOTES_GENERATED, quote.model_dump_json().encode(), thread.thread_id)
    desk.login("minji")
    page = desk.client.get(f"/t/default/{thread.thread_id}").text
    assert "Q-2026-000001 revision 1" in page and "1,045,000 KRW" in page
    document = desk.client.get(f"/t/default/{thread.thread_id}/quote/1.html")
    assert document.status_code == 200 and "견적서" in document.text
    assert "sandbox" in document.headers["content-security-policy"]


@pytest.mark.parametrize("status", ["open", "all", "auto_approved"])
async def test_queue_filters_answer(desk: Desk, status: str) -> None:
    desk.login("minji")
    assert desk.client.get(f"/queue?status={status}").status_code == 200


def _form(desk: Desk, path: str) -> dict[str, str]:
    """The facts form's fields as the page renders them (inputs and selected options)."""
    import re

    page = desk.client.get(path).text
    form = page[page.index('class="facts-form"') : page.index("</form>", page.index('class="facts-form"'))]
    values = dict(re.findall(r'<input name="([^"]+)" id="[^"]+" value="([^"]*)"', form))
    values |= dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        values[name] = chosen.group(1) if chosen else ""
    return values


async def test_the_quote_pdf_is_rendered_on_demand(desk: Desk, talk: Talk) -> None:
    pytest.importorskip("weasyprint")
    thread, facts = talk
    await desk.add_thread(thread, facts)
    quote = QuoteGenerated(
        thread_id=thread.thread_id,
        quote_number="Q-2026-000009",
        markdown="",
        html="<html><body><h1>Quotation</h1></body></html>",
        facts_hash=facts.facts.content_hash(),
    )
    await desk.publish(topics.QUOTES_GENERATED, quote.model_dump_json().encode(), thread.thread_id)
    desk.login("minji")
    response = desk.client.get(f"/t/default/{thread.thread_id}/quote/1.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert 'filename="Q-2026-000009-r1.pdf"' in response.headers["content-disposition"]
    assert desk.client.get(f"/t/default/{thread.thread_id}/quote/7.pdf").status_code == 404
