"""Review records on a real redis-server: atomic updates, the queue's order and pages, the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.review.records import AuditEntry, ReviewBook, ReviewRecord
from services.review.settings import ReviewSettings
from shared.store import RedisStore

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def book(redis_only: str) -> AsyncIterator[ReviewBook]:
    store = RedisStore(redis_only, namespace="review-test")
    yield ReviewBook(store, ReviewSettings(kafka_bootstrap="x:1", redis_url=redis_only, page_size=2))
    await store.close()


async def test_racing_updates_both_land(book: ReviewBook) -> None:
    def add(reason: str):  # type: ignore[no-untyped-def]
        def change(current: ReviewRecord | None) -> ReviewRecord:
            record = current or ReviewRecord(tenant="race", thread_id="t-1")
            return record.model_copy(update={"reasons": [*record.reasons, reason]})

        return change

    await asyncio.gather(*(book.update("race", "t-1", add(f"r{i}")) for i in range(8)))
    record = await book.get("race", "t-1")
    assert record is not None and sorted(record.reasons) == sorted(f"r{i}" for i in range(8))


async def test_queue_is_urgent_first_newest_first_and_paginated(book: ReviewBook) -> None:
    for thread_id, status, reasons in [
        ("t-a", "pending", []),
        ("t-b", "needs_review", ["low confidence"]),
        ("t-c", "approved", []),
        ("t-d", "pending", []),
    ]:
        await book.update(
            "q",
            thread_id,
            lambda _c, t=thread_id, s=status, r=reasons: ReviewRecord(tenant="q", thread_id=t, status=s, reasons=r),
        )
    first = await book.queue(["q"], None, 1)
    second = await book.queue(["q"], None, 2)
    assert [e.thread_id for e in first.entries] == ["t-b", "t-d"]
    assert [e.thread_id for e in second.entries] == ["t-a", "t-c"]
    assert (first.pages, first.total) == (2, 4)
    opened = await book.queue(["q"], ("needs_review", "pending"), 1)
    assert opened.total == 3
    assert (await book.queue(["nobody"], None, 1)).total == 0


async def test_audit_log_is_newest_first(book: ReviewBook) -> None:
    await book.audit("a", "t-1", [AuditEntry(who="minji", action="corrected", field="moq", before=50, after=80)])
    await asyncio.sleep(0.01)
    await book.audit("a", "t-1", [AuditEntry(who="minji", action="approved")])
    log = await book.audit_log("a", "t-1")
    assert [e.action for e in log] == ["approved", "corrected"]
    assert (log[1].field, log[1].before, log[1].after) == ("moq", 50, 80)
