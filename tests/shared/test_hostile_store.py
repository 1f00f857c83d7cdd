"""Racing first numbers of one key (or first reads of one thread) take one counter value, on both stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.store import MemoryStore, RedisStore, Store


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    real = RedisStore(request.getfixturevalue("redis_only"), namespace=f"counted-{uuid.uuid4().hex}")
    yield real
    await real.close()


async def test_racing_callers_share_one_value_and_take_one_counter_value(store: Store) -> None:
    values = await asyncio.gather(*(store.set_counted("number", "counter", "Q-2026-") for _ in range(10)))
    assert set(values) == {"Q-2026-000001"}
    assert await store.get("counter") == b"1"
    assert await store.set_counted("other", "counter", "Q-2026-") == "Q-2026-000002"


async def test_racing_first_reads_of_a_thread_share_one_number(store: Store) -> None:
    reads = await asyncio.gather(*(store.read_counted("state", "number", "counter", "Q-2026-") for _ in range(10)))
    assert set(reads) == {(None, "Q-2026-000001")}
    assert await store.get("counter") == b"1"


async def test_a_read_with_state_takes_no_number_and_a_number_without_state_is_kept(store: Store) -> None:
    await store.set("state", "published")
    assert await store.read_counted("state", "number", "counter", "Q-2026-") == (b"published", None)
    await store.set("state-2", "claimed")
    await store.set("number-2", "Q-2026-000042")
    assert await store.read_counted("state-2", "number-2", "counter", "Q-2026-") == (b"claimed", "Q-2026-000042")
    assert await store.read_counted("state-3", "number-2", "counter", "Q-2026-") == (None, "Q-2026-000042")
    assert await store.get("counter") is None  # the counter never moved
