"""Quote numbers and revisions: one number per thread, a revision per new set of facts."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from services.quote.numbering import QuoteBook, QuoteSlot
from shared.store import MemoryStore, RedisStore, Store

TODAY = date(2026, 3, 3)


async def _book_flow(store: Store) -> None:
    book = QuoteBook(store)
    first = await book.next_slot("acme", "t1", "h1", TODAY)
    assert first == QuoteSlot("Q-2026-000001", 1)
    # Not recorded yet (publish failed or crashed): a redelivery gets the very same slot.
    assert await book.next_slot("acme", "t1", "h1", TODAY) == first
    await book.record("acme", "t1", first, "h1")
    assert await book.next_slot("acme", "t1", "h1", TODAY) is None  # identical facts: no new revision
    second = await book.next_slot("acme", "t1", "h2", TODAY)
    assert second == QuoteSlot("Q-2026-000001", 2)  # same number, next revision
    await book.record("acme", "t1", second, "h2")
    third = await book.next_slot("acme", "t1", "h1", date(2027, 1, 5))
    assert third == QuoteSlot("Q-2026-000001", 3)  # back to earlier facts is still a change; the number stays
    # Another thread of the same tenant and year: the next number; other tenants and years count on their own.
    assert (await book.next_slot("acme", "t2", "h", TODAY)) == QuoteSlot("Q-2026-000002", 1)
    assert (await book.next_slot("other", "t1", "h", TODAY)) == QuoteSlot("Q-2026-000001", 1)
    assert (await book.next_slot("acme", "t3", "h", date(2027, 1, 1))) == QuoteSlot("Q-2027-000001", 1)


async def test_numbers_and_revisions_in_memory() -> None:
    await _book_flow(MemoryStore())


async def test_racing_first_quotes_of_one_thread_share_a_number() -> None:
    book = QuoteBook(MemoryStore())
    slots = await asyncio.gather(*(book.next_slot("acme", "t1", "h", TODAY) for _ in range(5)))
    assert {slot.quote_number for slot in slots if slot} == {"Q-2026-000001"}


@pytest.mark.integration
async def test_numbers_and_revisions_in_redis(redis_only: str) -> None:
    store = RedisStore(redis_only, namespace="quote-test")
    try:
        await _book_flow(store)
        book = QuoteBook(store)
        slots = await asyncio.gather(*(book.next_slot("race", f"t{i}", "h", TODAY) for i in range(20)))
        assert sorted(slot.quote_number for slot in slots if slot) == [f"Q-2026-{i:06d}" for i in range(1, 21)]
    finally:
        await store.close()
