"""The per-thread lock around assemble → publish → commit: concurrent messages of one thread are all kept.

``handle`` below is the handler's sequence (services/ingest/handlers.py) with the publish
replaced by a list append after a yield to the event loop, which is where a real publish
lets another worker in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from services.ingest.normalize import IncomingEmail
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadBusy, ThreadLockLost, ThreadRepository, lock_key, thread_id_for
from shared.consumer import TransientError
from shared.events import NormalizedThread
from shared.store import MemoryStore, RedisStore, Store
from tests.services.ingest.test_threads import BUYER, SUPPLIER, email

PUBLISH_ROUND_TRIP_S = 0.02


async def handle(repository: ThreadRepository, incoming: IncomingEmail, published: list[NormalizedThread]) -> None:
    """What the ingest handler does with one normalized message, the thread lock held throughout."""
    async with repository.locked(incoming) as held:
        if await repository.is_duplicate(incoming):
            return
        thread = await repository.assemble(incoming, held.thread_id)
        await asyncio.sleep(PUBLISH_ROUND_TRIP_S)
        published.append(thread)
        await repository.commit(incoming, thread)


async def handle_without_lock(
    repository: ThreadRepository, incoming: IncomingEmail, published: list[NormalizedThread]
) -> None:
    """The handler's sequence before the lock, to show the harness really races."""
    if await repository.is_duplicate(incoming):
        return
    thread = await repository.assemble(incoming)
    await asyncio.sleep(PUBLISH_ROUND_TRIP_S)
    published.append(thread)
    await repository.commit(incoming, thread)


def _replies(count: int) -> list[IncomingEmail]:
    """Replies to message 1, each from either side, all written (and arriving) at the same moment."""
    return [
        email(n, sender=SUPPLIER if n % 2 else BUYER, to=BUYER, text=f"답변 {n}", subject="RE: 견적 요청", refs=(1,))
        for n in range(2, 2 + count)
    ]


async def _stored(repository: ThreadRepository, thread_id: str) -> NormalizedThread:
    stored = await repository.load("default", thread_id)
    assert stored is not None
    return stored


async def test_concurrent_messages_of_one_thread_are_all_kept() -> None:
    store = MemoryStore()
    workers = [ThreadRepository(store, IngestSettings()) for _ in range(2)]
    published: list[NormalizedThread] = []
    await handle(workers[0], email(1), published)

    replies = _replies(4)
    await asyncio.gather(*(handle(workers[n % 2], reply, published) for n, reply in enumerate(replies)))

    stored = await _stored(workers[0], published[0].thread_id)
    assert [m.message_id for m in stored.messages] == ["m1@test", "m2@test", "m3@test", "m4@test", "m5@test"]
    assert [t.version for t in published] == [1, 2, 3, 4, 5]
    assert stored.version == 5
    assert not await store.exists(lock_key("default", stored.thread_id))


async def test_without_the_lock_the_same_race_loses_messages() -> None:
    store = MemoryStore()
    workers = [ThreadRepository(store, IngestSettings()) for _ in range(2)]
    published: list[NormalizedThread] = []
    await handle_without_lock(workers[0], email(1), published)

    await asyncio.gather(*(handle_without_lock(workers[n % 2], r, published) for n, r in enumerate(_replies(2))))

    stored = await _stored(workers[0], published[0].thread_id)
    assert len(stored.messages) < 3, "the harness no longer reproduces the race; the lock tests prove nothing"


async def test_the_same_message_twice_at_once_is_published_once() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    published: list[NormalizedThread] = []
    await asyncio.gather(handle(repository, email(1), published), handle(repository, email(1), published))
    assert [t.version for t in published] == [1]


async def test_the_lock_is_released_when_the_publish_fails() -> None:
    store = MemoryStore()
    repository = ThreadRepository(store, IngestSettings())
    incoming = email(1)
    with pytest.raises(ConnectionError):
        async with repository.locked(incoming) as held:
            raise ConnectionError("broker down")
    assert not await store.exists(held.key)
    published: list[NormalizedThread] = []
    await handle(repository, incoming, published)
    assert [t.version for t in published] == [1]


class _CountingStore(MemoryStore):
    """Counts the lock releases that need a round trip of their own."""

    def __init__(self) -> None:
        super().__init__()
        self.separate_releases = 0

    async def delete_all_if_equal(self, pairs: Sequence[tuple[str, bytes | str]]) -> int:
        self.separate_releases += 1
        return await super().delete_all_if_equal(pairs)


async def test_commit_lets_the_lock_and_claim_go_in_its_own_step() -> None:
    store = _CountingStore()
    repository = ThreadRepository(store, IngestSettings())
    incoming = email(1)
    published: list[NormalizedThread] = []
    async with repository.locked(incoming) as held:
        thread = await repository.assemble(incoming, held.thread_id, held.state)
        published.append(thread)
        await repository.commit(incoming, thread, held.state)
        assert not await store.exists(held.key) and not await store.exists(held.claim)
    assert store.separate_releases == 0
    async with repository.locked(incoming) as again:  # the next delivery is not kept waiting
        assert await repository.duplicate_reason(incoming, again.state) is not None
    assert store.separate_releases == 1  # a message that commits nothing still lets its lock go
    assert not await store.exists(again.key) and [t.version for t in published] == [1]


async def test_a_lock_held_elsewhere_is_a_transient_error_after_the_wait() -> None:
    store = MemoryStore()
    incoming = email(1)
    await store.set(lock_key("default", thread_id_for("default", "m1@test")), "another worker", ttl_s=30)
    repository = ThreadRepository(store, IngestSettings(), lock_wait_s=0.05)
    with pytest.raises(ThreadBusy) as caught:
        async with repository.locked(incoming):
            pytest.fail("entered a lock another worker holds")
    assert isinstance(caught.value, TransientError)


async def test_waiting_message_follows_its_thread_when_the_holder_commits() -> None:
    """m3 first maps to the thread of its unknown parent; once m2 is committed elsewhere it belongs there."""
    store = MemoryStore()
    incoming = email(3, refs=(2,))
    first_guess = thread_id_for("default", "m2@test")
    await store.set(lock_key("default", first_guess), "another worker", ttl_s=30)
    repository = ThreadRepository(store, IngestSettings(), lock_wait_s=5)
    waiting = asyncio.ensure_future(_lock_thread_id(repository, incoming))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    await store.set("msg:default:m2@test", "t-existing")
    assert await asyncio.wait_for(waiting, 5) == "t-existing"


class _MappingAppearsWhenLocked(MemoryStore):
    """A store where another worker commits the message's parent right as our lock is granted."""

    async def set(
        self, key: str, value: bytes | str, *, ttl_s: int | None = None, only_if_absent: bool = False
    ) -> bool:
        granted = await super().set(key, value, ttl_s=ttl_s, only_if_absent=only_if_absent)
        if granted and key.startswith("lock:") and not await self.exists("msg:default:m2@test"):
            await super().set("msg:default:m2@test", "t-existing")
        return granted


async def test_lock_granted_for_a_stale_thread_id_is_exchanged() -> None:
    store = _MappingAppearsWhenLocked()
    repository = ThreadRepository(store, IngestSettings())
    assert await _lock_thread_id(repository, email(3, refs=(2,))) == "t-existing"
    assert not await store.exists(lock_key("default", thread_id_for("default", "m2@test")))


async def _lock_thread_id(repository: ThreadRepository, incoming: IncomingEmail) -> str:
    async with repository.locked(incoming) as held:
        return held.thread_id


async def test_commit_after_the_lock_was_lost_writes_nothing() -> None:
    store = MemoryStore()
    repository = ThreadRepository(store, IngestSettings())
    incoming = email(1)
    with pytest.raises(ThreadLockLost):
        async with repository.locked(incoming) as held:
            thread = await repository.assemble(incoming, held.thread_id)
            await store.set(held.key, "a worker that took over after expiry", ttl_s=30)
            await repository.commit(incoming, thread)
    assert await repository.load("default", held.thread_id) is None
    assert not await repository.is_duplicate(incoming)
    assert await store.get(held.key) == b"a worker that took over after expiry"


async def test_a_held_lock_is_renewed_past_its_ttl() -> None:
    store = MemoryStore()
    repository = ThreadRepository(store, IngestSettings(), lock_ttl_s=1)
    async with repository.locked(email(1)) as held:
        await asyncio.sleep(1.4)
        assert await store.get(held.key) == held.token.encode()
    assert not await store.exists(held.key)


# --------------------------------------------------------------------------- real Redis


@pytest.fixture
async def redis_stores(redis_only: str) -> AsyncIterator[list[Store]]:
    """Two connections, as two ingest workers (processes) would have."""
    stores: list[Store] = [RedisStore(redis_only), RedisStore(redis_only)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


@pytest.mark.integration
async def test_two_workers_on_redis_keep_both_concurrent_messages(redis_stores: list[Store]) -> None:
    workers = [ThreadRepository(store, IngestSettings()) for store in redis_stores]
    published: list[NormalizedThread] = []
    await handle(workers[0], email(1), published)

    for round_start in (0, 2, 4):  # several rounds: each pair arrives at the same moment on the two workers
        pair = _replies(6)[round_start : round_start + 2]
        await asyncio.gather(handle(workers[0], pair[0], published), handle(workers[1], pair[1], published))

    stored = await _stored(workers[1], published[0].thread_id)
    assert [m.message_id for m in stored.messages] == [f"m{n}@test" for n in range(1, 8)]
    assert sorted(t.version for t in published) == list(range(1, 8))
    assert not await redis_stores[0].exists(lock_key("default", stored.thread_id))


@pytest.mark.integration
async def test_on_redis_the_race_is_real_without_the_lock(redis_stores: list[Store]) -> None:
    workers = [ThreadRepository(store, IngestSettings()) for store in redis_stores]
    first = email(1, subject="다른 견적")
    first.tenant = "race"
    published: list[NormalizedThread] = []
    await handle_without_lock(workers[0], first, published)
    pair = _replies(2)
    for reply in pair:
        reply.tenant = "race"
    await asyncio.gather(*(handle_without_lock(w, r, published) for w, r in zip(workers, pair, strict=True)))
    stored = await workers[0].load("race", published[0].thread_id)
    assert stored is not None and len(stored.messages) < 3
