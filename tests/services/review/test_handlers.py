"""The desk's consumers on faststream's TestKafkaBroker: records, order, reopening, auto-approval, dead letters."""

from __future__ import annotations

from pathlib import Path

from faststream.kafka.fastapi import KafkaMessage

from services.review.handlers import apply_facts
from services.review.main import build_service
from services.review.records import ReviewBook, assess
from shared import topics
from shared.events import FactsExtracted, NormalizedThread, QuoteGenerated
from shared.store import MemoryStore
from tests.services.review.conftest import Desk, desk_settings, make_desk

Talk = tuple[NormalizedThread, FactsExtracted]


async def _record(desk: Desk, tenant: str, thread_id: str):  # type: ignore[no-untyped-def]
    return await ReviewBook(desk.store, desk.runtime.settings).get(tenant, thread_id)  # type: ignore[arg-type]


async def test_older_facts_change_nothing(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    older = facts.model_copy(
        update={"thread_version": facts.thread_version - 1, "facts": facts.facts.model_copy(update={"moq": 1})}
    )
    await desk.publish(topics.FACTS_EXTRACTED, older.model_dump_json().encode(), facts.thread_id)
    record = await _record(desk, "default", thread.thread_id)
    assert record is not None and record.facts is not None
    assert record.facts.facts.moq == 50


async def test_a_new_version_reopens_a_decided_thread_and_the_same_facts_do_not(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    desk.client.post(f"{path}/approve", data={"csrf_token": token, "basis": desk.basis(path)})
    again = facts.model_copy(update={"extracted_at": facts.extracted_at.replace(microsecond=999999)})
    await desk.publish(topics.FACTS_EXTRACTED, again.model_dump_json().encode(), facts.thread_id)
    record = await _record(desk, "default", thread.thread_id)
    assert record is not None and record.status == "approved"
    changed = facts.facts.model_copy(update={"moq": 80})
    newer = facts.model_copy(update={"thread_version": facts.thread_version + 1, "facts": changed})
    await desk.publish(topics.FACTS_EXTRACTED, newer.model_dump_json().encode(), facts.thread_id)
    record = await _record(desk, "default", thread.thread_id)
    assert record is not None and record.status in ("pending", "needs_review") and record.decision is None


async def test_redelivered_facts_keep_a_correction(desk: Desk, talk: Talk) -> None:
    thread, facts = talk
    await desk.add_thread(thread, facts)
    token = desk.login("minji")
    path = f"/t/default/{thread.thread_id}"
    form = {"csrf_token": token, "basis": desk.basis(path), "items.count": "1", "items.0.product": "X 제품"}
    form |= {"items.0.quantity": "100", "items.0.unit_price": "9000", "currency": "KRW"}
    assert desk.client.post(f"{path}/correct", data=form).status_code == 200
    await desk.publish(topics.FACTS_EXTRACTED, facts.model_dump_json().encode(), facts.thread_id)
    record = await _record(desk, "default", thread.thread_id)
    assert record is not None and record.status == "corrected" and record.decision is not None


async def test_auto_approval_follows_the_tenants_threshold(users_file: Path, talk: Talk) -> None:
    thread, facts = talk
    async for desk in make_desk(desk_settings(users_file, auto_approve={"default": 0.9})):
        await desk.add_thread(thread, facts)
        other = facts.model_copy(update={"tenant": "other", "thread_id": "t-other"})
        await desk.add_thread(thread.model_copy(update={"tenant": "other", "thread_id": "t-other"}), other)
        record = await _record(desk, "default", thread.thread_id)
        assert record is not None and record.status == "auto_approved"
        assert (await _record(desk, "other", "t-other")).status == "pending"  # type: ignore[union-attr]
        assert desk.corrections == []  # only facts a person checked become training data
        desk.login("minji")
        assert thread.thread_id not in desk.client.get("/queue").text
        listed = desk.client.get("/auto-approved").text
        assert thread.thread_id in listed and "auto approved" in listed
        assert "auto-approval" in desk.client.get(f"/t/default/{thread.thread_id}").text
        quote = QuoteGenerated(
            thread_id=thread.thread_id,
            quote_number="Q-2026-000001",
            markdown="",
            html="<p>q</p>",
            facts_hash=facts.facts.content_hash(),
            needs_review=True,
            missing_fields=["supplier"],
        )
        await desk.publish(topics.QUOTES_GENERATED, quote.model_dump_json().encode(), thread.thread_id)
        record = await _record(desk, "default", thread.thread_id)
        assert record is not None and record.status == "needs_review"
        assert "the quote lacks supplier" in " ".join(record.reasons)


def test_ungrounded_or_disputed_facts_are_not_auto_approved(users_file: Path, talk: Talk) -> None:
    _thread, facts = talk
    settings = desk_settings(users_file, auto_approve={"*": 0.5})
    assert assess(facts, settings).auto_approvable
    bare = facts.model_copy(update={"evidence": [e for e in facts.evidence if e.field != "items.0.unit_price"]})
    verdict = assess(bare, settings)
    assert not verdict.auto_approvable and verdict.fields["items.0.unit_price"] == 0.5
    assert any(r.startswith("low confidence 0.50: items.0.unit_price") for r in verdict.reasons)
    disputed = facts.model_copy(update={"warnings": ["disagreement: moq llm=40.0 rules=50.0"]})
    assert not assess(disputed, settings).auto_approvable
    newcomer = facts.model_copy(
        update={
            "warnings": ["prices need review: x@evil.example joined the thread from evil.example, which no earlier"]
        }
    )
    assert any(r.startswith("new party domain") for r in assess(newcomer, settings).reasons)
    assert apply_facts(None, disputed, None, settings).status == "needs_review"  # type: ignore[union-attr]


async def test_unreadable_facts_go_to_the_dead_letter_topic(users_file: Path) -> None:
    runtime = build_service(desk_settings(users_file), store=MemoryStore())
    dead: list[bytes] = []

    @runtime.router.subscriber(topics.dlq(topics.FACTS_EXTRACTED), group_id="test-dlq")
    async def collect(msg: KafkaMessage) -> None:
        dead.append(msg.body)

    from faststream.kafka import TestKafkaBroker

    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(b"{not json", topics.FACTS_EXTRACTED, key=b"t-1")
        await broker.publish(b'{"thread_id": "../x", "facts": {}}', topics.FACTS_EXTRACTED, key=b"t-2")
    assert dead == [b"{not json", b'{"thread_id": "../x", "facts": {}}']
