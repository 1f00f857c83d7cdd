"""Quote numbers and revisions: one number per thread, a revision per newer set of facts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from services.quote.numbering import Decision, FactsOrder, QuoteBook, QuoteSlot, Verdict
from shared.store import MemoryStore, RedisStore, Store

TODAY = date(2026, 3, 3)
EARLY = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
LATE = datetime(2026, 3, 3, 9, 5, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The same tests on the in-memory store and on a real redis-server."""
    if request.param == "memory":
        yield MemoryStore()
        return
    real = RedisStore(request.getfixturevalue("redis_only"), namespace=f"quote-test-{uuid.uuid4().hex}")
    yield real
    await real.close()


async def _slot(
    book: QuoteBook, thread: str, facts_hash: str, version: int = 1, extracted_at: datetime | None = None
) -> QuoteSlot | None:
    """The slot next_slot claims for tenant acme (None: nothing to publish)."""
    decision = await book.next_slot(
        "acme", thread, facts_hash, TODAY, thread_version=version, extracted_at=extracted_at
    )
    return decision.slot


async def test_numbers_and_revisions(store: Store) -> None:
    book = QuoteBook(store)
    first = (await book.next_slot("acme", "t1", "h1", TODAY)).slot
    assert first == QuoteSlot("Q-2026-000001", 1)
    # Not recorded yet (publish failed or crashed): a redelivery gets the very same slot.
    assert (await book.next_slot("acme", "t1", "h1", TODAY)).slot == first
    assert await book.record("acme", "t1", first, "h1")
    unchanged = await book.next_slot("acme", "t1", "h1", TODAY)
    assert (unchanged.verdict, unchanged.slot) == (Verdict.UNCHANGED, None)  # identical facts: no new revision
    second = (await book.next_slot("acme", "t1", "h2", TODAY)).slot
    assert second == QuoteSlot("Q-2026-000001", 2)  # same number, next revision
    assert await book.record("acme", "t1", second, "h2")
    third = (await book.next_slot("acme", "t1", "h1", date(2027, 1, 5))).slot
    assert third == QuoteSlot("Q-2026-000001", 3)  # back to earlier facts (not older) is a change; the number stays
    # Another thread of the same tenant and year: the next number; other tenants and years count on their own.
    assert (await book.next_slot("acme", "t2", "h", TODAY)).slot == QuoteSlot("Q-2026-000002", 1)
    assert (await book.next_slot("other", "t1", "h", TODAY)).slot == QuoteSlot("Q-2026-000001", 1)
    assert (await book.next_slot("acme", "t3", "h", date(2027, 1, 1))).slot == QuoteSlot("Q-2027-000001", 1)


async def test_facts_of_an_older_thread_version_make_no_revision(store: Store) -> None:
    book = QuoteBook(store)
    v1 = await _slot(book, "t", "h-v1", 1)
    assert v1 is not None and await book.record("acme", "t", v1, "h-v1")
    v2 = await _slot(book, "t", "h-v2", 2)
    assert v2 == QuoteSlot("Q-2026-000001", 2)
    assert await book.record("acme", "t", v2, "h-v2")

    replay = await book.next_slot("acme", "t", "h-v1", TODAY, thread_version=1)  # a DLQ replay of v1
    assert (replay.verdict, replay.slot, replay.reason) == (Verdict.STALE, None, "older_version")
    assert "version 1" in replay.detail and "version 2" in replay.detail
    # v2 again, recorded: nothing; a v3 is the next revision.
    assert (await book.next_slot("acme", "t", "h-v2", TODAY, thread_version=2)).verdict is Verdict.UNCHANGED
    assert await _slot(book, "t", "h-v3", 3) == QuoteSlot("Q-2026-000001", 3)


async def test_older_facts_are_stale_even_while_the_newer_revision_is_unrecorded(store: Store) -> None:
    book = QuoteBook(store)
    v2 = await _slot(book, "t", "h-v2", 2)  # claimed, publish in flight
    assert v2 == QuoteSlot("Q-2026-000001", 1)
    assert (await book.next_slot("acme", "t", "h-v1", TODAY, thread_version=1)).verdict is Verdict.STALE
    # The v2 redelivery still republishes its slot.
    repeat = await book.next_slot("acme", "t", "h-v2", TODAY, thread_version=2)
    assert (repeat.verdict, repeat.slot) == (Verdict.REPEAT, v2)


async def test_same_version_new_content_is_a_revision_only_when_not_extracted_earlier(store: Store) -> None:
    book = QuoteBook(store)
    rules = await _slot(book, "t", "h-rules", 4, extracted_at=EARLY)
    assert rules is not None and await book.record("acme", "t", rules, "h-rules")
    # A later re-extraction of version 4 (e.g. the LLM once it is back) is the next revision ...
    llm = await _slot(book, "t", "h-llm", 4, extracted_at=LATE)
    assert llm == QuoteSlot("Q-2026-000001", 2)
    assert await book.record("acme", "t", llm, "h-llm")
    # ... and the earlier extraction, redelivered, is stale: no flip back.
    again = await book.next_slot("acme", "t", "h-rules", TODAY, thread_version=4, extracted_at=EARLY)
    assert (again.verdict, again.reason) == (Verdict.STALE, "older_extraction")


async def test_identical_facts_of_a_newer_version_move_the_recorded_version_on(store: Store) -> None:
    book = QuoteBook(store)
    v1 = await _slot(book, "t", "h-a", 1)
    assert v1 is not None and await book.record("acme", "t", v1, "h-a")
    v2 = await _slot(book, "t", "h-b", 2)
    assert v2 is not None and await book.record("acme", "t", v2, "h-b")
    assert (await book.next_slot("acme", "t", "h-b", TODAY, thread_version=3)).verdict is Verdict.UNCHANGED
    # A version-2 re-extraction with other facts is now older than the version 3 already seen.
    assert (await book.next_slot("acme", "t", "h-c", TODAY, thread_version=2)).verdict is Verdict.STALE


async def test_racing_deliveries_of_two_versions_never_share_a_revision(store: Store) -> None:
    book = QuoteBook(store)
    decisions: list[Decision] = await asyncio.gather(
        book.next_slot("acme", "t", "h-v1", TODAY, thread_version=1),
        book.next_slot("acme", "t", "h-v2", TODAY, thread_version=2),
    )
    published = {d.slot.revision: d for d in decisions if d.slot is not None}
    assert len(published) == sum(d.publish for d in decisions)  # no revision claimed twice
    newest = published[max(published)]
    assert newest.verdict is Verdict.NEW and json.loads(newest.claim or "{}")["facts_hash"] == "h-v2"
    # Whichever won the race, an older claim lost cannot be recorded over the newer one.
    assert [d.verdict for d in decisions].count(Verdict.STALE) == 2 - len(published)


async def test_a_lost_race_re_decides_against_the_winner(store: Store) -> None:
    book = QuoteBook(store)
    older = await book.decide("acme", "t", "h-v1", TODAY, thread_version=1)
    newer = await book.decide("acme", "t", "h-v2", TODAY, thread_version=2)
    assert await book.claim("acme", "t", newer)
    assert not await book.claim("acme", "t", older)  # decided on a state that is gone
    retried = await book.next_slot("acme", "t", "h-v1", TODAY, thread_version=1)
    assert retried.verdict is Verdict.STALE


async def test_racing_first_quotes_of_one_thread_share_a_number_and_revision(store: Store) -> None:
    book = QuoteBook(store)
    decisions = await asyncio.gather(*(book.next_slot("acme", "t1", "h", TODAY) for _ in range(5)))
    # One number taken atomically (Store.set_counted): no racer burns a counter value.
    assert {d.slot for d in decisions} == {QuoteSlot("Q-2026-000001", 1)}


async def test_first_quotes_of_many_threads_get_distinct_numbers(store: Store) -> None:
    book = QuoteBook(store)
    decisions = await asyncio.gather(*(book.next_slot("race", f"t{i}", "h", TODAY) for i in range(20)))
    assert sorted(d.slot.quote_number for d in decisions if d.slot) == [f"Q-2026-{i:06d}" for i in range(1, 21)]


async def test_release_undoes_an_unpublished_claim_so_no_revision_is_skipped(store: Store) -> None:
    book = QuoteBook(store)
    v1 = await _slot(book, "t", "h1", 1)
    assert v1 is not None and await book.record("acme", "t", v1, "h1")
    failed = await book.next_slot("acme", "t", "h2", TODAY, thread_version=2)  # rendering will fail
    assert await book.release("acme", "t", failed)
    assert await _slot(book, "t", "h3", 3) == QuoteSlot("Q-2026-000001", 2)
    first_ever = await book.next_slot("acme", "fresh", "h", TODAY)
    assert await book.release("acme", "fresh", first_ever)
    assert (await book.next_slot("acme", "fresh", "h", TODAY)).slot == first_ever.slot  # same number kept


async def test_record_does_not_overwrite_a_newer_claim(store: Store) -> None:
    book = QuoteBook(store)
    v1 = await _slot(book, "t", "h1", 1)
    v2 = await _slot(book, "t", "h2", 2)  # claimed while v1's publish was in flight
    assert v1 is not None and v2 == QuoteSlot("Q-2026-000001", 2)
    assert not await book.record("acme", "t", v1, "h1")
    repeat = await book.next_slot("acme", "t", "h2", TODAY, thread_version=2)
    assert (repeat.verdict, repeat.slot) == (Verdict.REPEAT, v2)


async def test_state_written_before_versions_were_kept_still_counts(store: Store) -> None:
    legacy = {"quote_number": "Q-2025-000009", "revision": 3, "facts_hash": "old"}
    await store.set("quote:acme:t:state", json.dumps(legacy))
    await store.set("quote:acme:t:number", "Q-2025-000009")
    book = QuoteBook(store)
    assert (await book.next_slot("acme", "t", "old", TODAY, thread_version=5)).verdict is Verdict.UNCHANGED
    assert await _slot(book, "t", "new", 6) == QuoteSlot("Q-2025-000009", 4)


def test_naive_and_aware_extraction_times_compare_as_utc() -> None:
    naive_late = datetime(2026, 3, 3, 9, 5)
    assert FactsOrder(4, EARLY).older_than(FactsOrder(4, naive_late))
    assert not FactsOrder(4, naive_late).older_than(FactsOrder(4, EARLY))
    assert not FactsOrder(5, None).older_than(FactsOrder(5, LATE))  # unknown time: not older


async def test_a_thread_started_again_after_its_state_expired_is_quoted_and_old_replays_stay_stale(
    store: Store,
) -> None:
    """Ingest forgets an idle thread after QUOTEFLOW_THREAD_TTL_DAYS; a late reply starts it again at
    version 1 with a later thread start. That is newer than every version quoted before, not a replay."""
    book = QuoteBook(store)
    first_start, second_start = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    for version in (1, 2, 3):
        decision = await book.next_slot(
            "acme", "t", f"h-v{version}", TODAY, thread_version=version, thread_started_at=first_start
        )
        assert decision.slot is not None and await book.record("acme", "t", decision.slot, f"h-v{version}")
    restarted = await book.next_slot("acme", "t", "h-late", TODAY, thread_version=1, thread_started_at=second_start)
    assert (restarted.verdict, restarted.slot) == (Verdict.NEW, QuoteSlot("Q-2026-000001", 4))
    assert restarted.slot is not None and await book.record("acme", "t", restarted.slot, "h-late")
    replay = await book.next_slot("acme", "t", "h-v3", TODAY, thread_version=3, thread_started_at=first_start)
    assert (replay.verdict, replay.reason) == (Verdict.STALE, "older_thread")
