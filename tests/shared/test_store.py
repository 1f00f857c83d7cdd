"""MemoryStore (the test double) behaves like RedisStore (the real one) for every operation used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shared.store import MemoryStore, RedisStore, Store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url: str = request.getfixturevalue("redis_only")
    real = RedisStore(url, namespace=f"test-{id(request)}")
    yield real
    await real.close()


async def test_get_set_delete(store: Store) -> None:
    assert await store.get("k") is None
    assert await store.set("k", "v")
    assert await store.get("k") == b"v"
    assert await store.exists("k")
    assert await store.delete("k", "missing") == 1
    assert not await store.exists("k")


async def test_set_only_if_absent(store: Store) -> None:
    assert await store.set("lock", "a", only_if_absent=True)
    assert not await store.set("lock", "b", only_if_absent=True)
    assert await store.get("lock") == b"a"


async def test_ttl_expires(store: Store) -> None:
    await store.set("short", "x", ttl_s=1)
    assert await store.exists("short")
    await asyncio.sleep(1.2)
    assert not await store.exists("short")


async def test_counters_and_hashes(store: Store) -> None:
    assert await store.incr("n") == 1
    assert await store.incr("n") == 2
    await store.hset("h", "a", "1")
    await store.hset("h", "b", b"2")
    assert await store.hget("h", "a") == b"1"
    assert await store.hgetall("h") == {"a": b"1", "b": b"2"}
    assert await store.hgetall("none") == {}
    assert await store.ping()


async def test_batch_applies_nothing_until_executed_then_everything(store: Store) -> None:
    writes = store.batch()
    writes.set("b:thread", "state", ttl_s=60)
    writes.hset("b:roles", "acme.example", "buyer")
    writes.expire("b:roles", 60)
    writes.set("b:seen", "1")
    assert not await store.exists("b:thread")
    await writes.execute()
    assert await store.get("b:thread") == b"state"
    assert await store.hgetall("b:roles") == {"acme.example": b"buyer"}
    assert await store.get("b:seen") == b"1"
