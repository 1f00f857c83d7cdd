"""Racing first numbers of one key take one counter value, on both stores."""

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
