"""MemoryStore (the test double) behaves like RedisStore (the real one) for every operation used."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.store import MemoryStore, RedisStore, Store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url: str = request.getfixturevalue("redis_only")
    real = RedisStore(url, namespace=f"test-{uuid.uuid4().hex}")
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


async def test_read_gets_values_and_hashes_together(store: Store) -> None:
    await store.set("r:a", "1")
    await store.hset("r:h", "party", "buyer")
    snapshot = await store.read(keys=["r:a", "r:missing"], hashes=["r:h", "r:none"])
    assert snapshot.values == {"r:a": b"1", "r:missing": None}
    assert snapshot.hashes == {"r:h": {"party": b"buyer"}, "r:none": {}}
    assert await store.read() == type(snapshot)()


async def test_delete_if_equals_only_deletes_its_own_value(store: Store) -> None:
    await store.set("lock", "mine")
    assert not await store.delete_if_equals("lock", "theirs")
    assert await store.get("lock") == b"mine"
    assert await store.delete_if_equals("lock", "mine")
    assert not await store.exists("lock")
    assert not await store.delete_if_equals("lock", "mine")


async def test_compare_and_set_writes_only_over_the_expected_value(store: Store) -> None:
    assert await store.compare_and_set("cas", None, "v1")  # absent, as expected
    assert not await store.compare_and_set("cas", None, "other")  # no longer absent
    assert not await store.compare_and_set("cas", "stale", "other")
    assert await store.get("cas") == b"v1"
    assert await store.compare_and_set("cas", b"v1", "v2")
    assert await store.get("cas") == b"v2"
    assert not await store.compare_and_set("cas", "", "v3")  # an empty string is not 'absent' and not 'v2'
    await store.hset("cas:hash", "f", "v")
    assert not await store.compare_and_set("cas:hash", None, "v")  # a hash is there: not absent


async def test_compare_and_set_lets_exactly_one_of_racing_writers_win(store: Store) -> None:
    await store.set("cas:race", "0")
    wins = await asyncio.gather(*(store.compare_and_set("cas:race", "0", f"writer-{i}") for i in range(10)))
    assert sum(wins) == 1
    assert await store.get("cas:race") == f"writer-{wins.index(True)}".encode()


async def test_take_and_read_takes_a_free_key_and_reads_after_taking_it(store: Store) -> None:
    await store.set("thread", "state")
    await store.hset("roles", "a.example", "buyer")
    taken, snapshot = await store.take_and_read("lock", "mine", ttl_s=30, keys=["thread", "lock"], hashes=["roles"])
    assert taken is True
    assert snapshot.values == {"thread": b"state", "lock": b"mine"}  # read after the SET, in the same round trip
    assert snapshot.hashes == {"roles": {"a.example": b"buyer"}}
    taken_again, _ = await store.take_and_read("lock", "theirs", ttl_s=30)
    assert taken_again is False
    assert await store.get("lock") == b"mine"


async def test_delete_all_if_equal_deletes_only_the_keys_still_holding_their_value(store: Store) -> None:
    await store.set("claim", "mine")
    await store.set("lock", "someone-else")
    deleted = await store.delete_all_if_equal([("claim", "mine"), ("lock", "mine"), ("absent", "mine")])
    assert deleted == 1
    assert await store.get("claim") is None
    assert await store.get("lock") == b"someone-else"
    assert await store.delete_all_if_equal([]) == 0


async def test_a_guarded_batch_writes_only_while_its_keys_hold_their_values(store: Store) -> None:
    await store.set("lock", "mine")
    await store.set("claim", "mine-too")
    writes = store.batch()
    writes.set("thread", "v1", ttl_s=60)
    writes.set("plain", "p")
    writes.hset("roles", "a.example", "buyer")
    writes.expire("roles", 60)
    assert await writes.execute(only_while=[("lock", "mine"), ("claim", "mine-too")]) is None
    assert (await store.get("thread"), await store.get("plain")) == (b"v1", b"p")
    assert await store.hgetall("roles") == {"a.example": b"buyer"}

    await store.set("claim", "someone-else")
    refused = store.batch()
    refused.set("thread", "v2")
    refused.hset("roles", "b.example", "supplier")
    assert await refused.execute(only_while=[("lock", "mine"), ("claim", "mine-too")]) == "claim"
    assert await store.get("thread") == b"v1"  # nothing written
    assert await store.hgetall("roles") == {"a.example": b"buyer"}


async def test_a_guarded_batch_can_release_its_guards_in_the_same_step(store: Store) -> None:
    await store.set("lock", "mine")
    await store.set("claim", "someone-else")
    refused = store.batch()
    refused.set("thread", "v1")
    assert await refused.execute(only_while=[("lock", "mine"), ("claim", "mine-too")], release=True) == "claim"
    assert (await store.get("lock"), await store.get("claim")) == (b"mine", b"someone-else")  # neither let go

    await store.set("claim", "mine-too")
    writes = store.batch()
    writes.set("thread", "v2")
    assert await writes.execute(only_while=[("lock", "mine"), ("claim", "mine-too")], release=True) is None
    assert await store.get("thread") == b"v2"
    assert (await store.get("lock"), await store.get("claim")) == (None, None)
