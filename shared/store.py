"""The small key-value interface services use for state, with Redis and in-memory versions.

Services receive a :class:`Store` instead of importing a Redis client, so unit
tests pass :class:`MemoryStore` while integration tests and production pass
:class:`RedisStore`. Values are bytes or str; callers own their encoding (JSON).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shared.settings import Settings


class WriteBatch(Protocol):
    """Writes queued and sent together: one round trip, applied all or none (Redis MULTI/EXEC)."""

    def set(self, key: str, value: bytes | str, *, ttl_s: int | None = None) -> None: ...

    def hset(self, key: str, field: str, value: bytes | str) -> None: ...

    def expire(self, key: str, ttl_s: int) -> None: ...

    async def execute(self, *, only_while: Sequence[tuple[str, bytes | str]] = (), release: bool = False) -> str | None:
        """Apply the writes; with ``only_while``, only if each of those keys still holds its value (a lock
        or claim we own), checked in the same atomic step. Returns the first key that no longer did (then
        nothing is written), else None. ``release``: once written, delete the ``only_while`` keys in the same
        step (the lock is let go with the writes it guarded, no round trip of its own)."""
        ...


@dataclass(frozen=True)
class Snapshot:
    """Values and hashes read together in one round trip (see :meth:`Store.read`)."""

    values: dict[str, bytes | None] = field(default_factory=dict)
    hashes: dict[str, dict[str, bytes]] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    """The Redis operations QuoteFlow needs, nothing more."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: bytes | str, *, ttl_s: int | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store a value; with ``only_if_absent`` return False (and change nothing) if the key exists."""
        ...

    async def delete(self, *keys: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def incr(self, key: str) -> int: ...

    async def set_counted(self, key: str, counter: str, prefix: str) -> str:
        """``key``'s value; when absent, set it to ``prefix`` + the next value of ``counter`` (six digits),
        atomically: callers racing on one key share one value and take one counter value (no gaps)."""
        ...

    async def read_counted(self, key: str, counted: str, counter: str, prefix: str) -> tuple[bytes | None, str | None]:
        """``key``'s value and ``counted``'s, in one atomic step; while ``key`` is absent, an absent ``counted`` is
        first set as by :meth:`set_counted` (a quote's state and number: the first quote of a thread takes its
        number in the round trip that reads its state)."""
        ...

    async def hset(self, key: str, field: str, value: bytes | str) -> None: ...

    async def hget(self, key: str, field: str) -> bytes | None: ...

    async def hgetall(self, key: str) -> dict[str, bytes]: ...

    async def expire(self, key: str, ttl_s: int) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    async def read(self, keys: Sequence[str] = (), hashes: Sequence[str] = ()) -> Snapshot:
        """Several values and whole hashes with one round trip (not atomic: use under a lock)."""
        ...

    async def take_and_read(
        self, key: str, token: bytes | str, *, ttl_s: int, keys: Sequence[str] = (), hashes: Sequence[str] = ()
    ) -> tuple[bool, Snapshot]:
        """``SET key token NX EX ttl_s`` (taking a lock or claim) and :meth:`read` in one round trip. The reads
        run after the SET on the server, so when it was taken they see the state as of holding it."""
        ...

    async def delete_if_equals(self, key: str, value: bytes | str) -> bool:
        """Delete ``key`` only if it still holds ``value`` (releasing a lock we own), atomically."""
        ...

    async def delete_all_if_equal(self, pairs: Sequence[tuple[str, bytes | str]]) -> int:
        """:meth:`delete_if_equals` for each ``(key, value)``, in one round trip; how many were deleted."""
        ...

    async def compare_and_set(self, key: str, expected: bytes | str | None, value: bytes | str) -> bool:
        """Set ``key`` to ``value`` only if it still holds ``expected`` (None: only if absent), atomically.

        Read, decide, then write with this: of two writers that read the same value, exactly
        one wins and the other learns that it must read again (optimistic concurrency).
        """
        ...

    def batch(self) -> WriteBatch:
        """A batch of writes to send with one round trip."""
        ...


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class MemoryWriteBatch:
    """Queues writes and applies them in order on execute (nothing is applied before)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._writes: list[Callable[[], Awaitable[object]]] = []

    def set(self, key: str, value: bytes | str, *, ttl_s: int | None = None) -> None:
        self._writes.append(lambda: self._store.set(key, value, ttl_s=ttl_s))

    def hset(self, key: str, field: str, value: bytes | str) -> None:
        self._writes.append(lambda: self._store.hset(key, field, value))

    def expire(self, key: str, ttl_s: int) -> None:
        self._writes.append(lambda: self._store.expire(key, ttl_s))

    async def execute(self, *, only_while: Sequence[tuple[str, bytes | str]] = (), release: bool = False) -> str | None:
        writes, self._writes = self._writes, []
        # No await between the check and the writes that could let another task in: MemoryStore's
        # operations do not yield, so this is atomic on the event loop.
        for key, value in only_while:
            if await self._store.get(key) != _as_bytes(value):
                return key
        for write in writes:
            await write()
        if release:
            await self._store.delete(*(key for key, _ in only_while))
        return None


class MemoryStore:
    """In-process test double with the same semantics (including TTLs)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes | dict[str, bytes]] = {}
        self._expiry: dict[str, float] = {}

    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return key in self._data

    async def get(self, key: str) -> bytes | None:
        value = self._data.get(key) if self._alive(key) else None
        return value if isinstance(value, bytes) else None

    async def set(
        self, key: str, value: bytes | str, *, ttl_s: int | None = None, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._alive(key):
            return False
        self._data[key] = _as_bytes(value)
        if ttl_s:
            self._expiry[key] = time.monotonic() + ttl_s
        else:
            self._expiry.pop(key, None)
        return True

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._alive(key):
                removed += 1
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return removed

    async def exists(self, key: str) -> bool:
        return self._alive(key)

    async def incr(self, key: str) -> int:
        current = await self.get(key)
        value = int(current or b"0") + 1
        self._data[key] = str(value).encode()
        return value

    async def set_counted(self, key: str, counter: str, prefix: str) -> str:
        # No await between the read and the writes: atomic on the event loop.
        current = self._data.get(key) if self._alive(key) else None
        if isinstance(current, bytes):
            return current.decode()
        raw = self._data.get(counter) if self._alive(counter) else None
        value = int(raw if isinstance(raw, bytes) else b"0") + 1
        self._data[counter] = str(value).encode()
        text = f"{prefix}{value:06d}"
        self._data[key] = text.encode()
        self._expiry.pop(key, None)
        return text

    async def read_counted(self, key: str, counted: str, counter: str, prefix: str) -> tuple[bytes | None, str | None]:
        current = await self.get(key)
        if current is not None:
            number = await self.get(counted)
            return current, number.decode() if number is not None else None
        return None, await self.set_counted(counted, counter, prefix)

    async def hset(self, key: str, field: str, value: bytes | str) -> None:
        bucket = self._data.get(key) if self._alive(key) else None
        if not isinstance(bucket, dict):
            bucket = {}
            self._data[key] = bucket
        bucket[field] = _as_bytes(value)

    async def hget(self, key: str, field: str) -> bytes | None:
        bucket = self._data.get(key) if self._alive(key) else None
        return bucket.get(field) if isinstance(bucket, dict) else None

    async def hgetall(self, key: str) -> dict[str, bytes]:
        bucket = self._data.get(key) if self._alive(key) else None
        return dict(bucket) if isinstance(bucket, dict) else {}

    async def expire(self, key: str, ttl_s: int) -> None:
        if self._alive(key):
            self._expiry[key] = time.monotonic() + ttl_s

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def read(self, keys: Sequence[str] = (), hashes: Sequence[str] = ()) -> Snapshot:
        return Snapshot({k: await self.get(k) for k in keys}, {h: await self.hgetall(h) for h in hashes})

    async def take_and_read(
        self, key: str, token: bytes | str, *, ttl_s: int, keys: Sequence[str] = (), hashes: Sequence[str] = ()
    ) -> tuple[bool, Snapshot]:
        taken = await self.set(key, token, ttl_s=ttl_s, only_if_absent=True)
        return taken, await self.read(keys, hashes)

    async def delete_if_equals(self, key: str, value: bytes | str) -> bool:
        if await self.get(key) != _as_bytes(value):
            return False
        return bool(await self.delete(key))

    async def delete_all_if_equal(self, pairs: Sequence[tuple[str, bytes | str]]) -> int:
        return sum([await self.delete_if_equals(key, value) for key, value in pairs])

    async def compare_and_set(self, key: str, expected: bytes | str | None, value: bytes | str) -> bool:
        # No await between the comparison and the write: atomic on the event loop.
        current = self._data.get(key) if self._alive(key) else None
        if isinstance(current, dict) or current != (None if expected is None else _as_bytes(expected)):
            return False
        self._data[key] = _as_bytes(value)
        self._expiry.pop(key, None)
        return True

    def batch(self) -> MemoryWriteBatch:
        return MemoryWriteBatch(self)


class RedisWriteBatch:
    """Writes sent in one round trip, applied atomically: a MULTI/EXEC pipeline, or (guarded by keys we must
    still hold) one Lua script that checks them and writes."""

    def __init__(self, client: Any, guarded: Any, namespace: str) -> None:
        self._client = client
        self._guarded = guarded
        self._ns = namespace
        self._ops: list[tuple[str, list[bytes | str | int]]] = []
        """(namespaced key, [operation, arguments...]) in order."""

    def set(self, key: str, value: bytes | str, *, ttl_s: int | None = None) -> None:
        self._ops.append((f"{self._ns}:{key}", ["set", value, ttl_s or 0]))

    def hset(self, key: str, field: str, value: bytes | str) -> None:
        self._ops.append((f"{self._ns}:{key}", ["hset", field, value]))

    def expire(self, key: str, ttl_s: int) -> None:
        self._ops.append((f"{self._ns}:{key}", ["expire", ttl_s]))

    async def execute(self, *, only_while: Sequence[tuple[str, bytes | str]] = (), release: bool = False) -> str | None:
        ops, self._ops = self._ops, []
        if not only_while:
            async with self._client.pipeline(transaction=True) as pipeline:
                for key, (op, *rest) in ops:
                    if op == "set":
                        pipeline.set(key, rest[0], ex=int(rest[1]) or None)
                    elif op == "hset":
                        pipeline.hset(key, rest[0], rest[1])
                    else:
                        pipeline.expire(key, rest[0])
                await pipeline.execute()
            return None
        keys = [f"{self._ns}:{key}" for key, _ in only_while] + [key for key, _ in ops]
        args: list[bytes | str | int] = [len(only_while), int(release), *(value for _, value in only_while)]
        for _, op_args in ops:
            args.extend(op_args)
        failed = int(await self._guarded(keys=keys, args=args))
        return only_while[failed - 1][0] if failed else None


# KEYS: the guard keys, then one key per write; ARGV: the number of guards, 1 to delete the guards after the
# writes (else 0), their values, then per write "set" value ttl (0: none) | "hset" field value | "expire" ttl.
# Returns the index of the first guard that no longer holds its value (nothing written), else 0.
_GUARDED_WRITES = """
local guards = tonumber(ARGV[1])
for i = 1, guards do
    if redis.pcall('GET', KEYS[i]) ~= ARGV[2 + i] then return i end  -- pcall: a hash is not held either
end
local a, k = guards + 3, guards + 1
while a <= #ARGV do
    local op = ARGV[a]
    if op == 'set' then
        if tonumber(ARGV[a + 2]) > 0 then
            redis.call('SET', KEYS[k], ARGV[a + 1], 'EX', ARGV[a + 2])
        else
            redis.call('SET', KEYS[k], ARGV[a + 1])
        end
        a = a + 3
    elseif op == 'hset' then
        redis.call('HSET', KEYS[k], ARGV[a + 1], ARGV[a + 2])
        a = a + 3
    else
        redis.call('EXPIRE', KEYS[k], ARGV[a + 1])
        a = a + 2
    end
    k = k + 1
end
if ARGV[2] == '1' then
    for i = 1, guards do
        redis.call('DEL', KEYS[i])
    end
end
return 0
"""

_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

_DELETE_ALL_IF_EQUAL = """
local deleted = 0
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[i] then
        deleted = deleted + redis.call('DEL', key)
    end
end
return deleted
"""

# ARGV: 1 = "1" if a value is expected ("0": the key must be absent), 2 = expected, 3 = new value.
# A key of another type (a hash) is neither absent nor equal: no write. SET drops any TTL, as set() does.
_COMPARE_AND_SET = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'string' and kind ~= 'none' then return 0 end
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
    if current ~= ARGV[2] then return 0 end
elseif current then
    return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""

# KEYS: 1 = the key, 2 = the counter; ARGV: 1 = prefix. The counter moves only when the key is absent.
_SET_COUNTED = """
local current = redis.call('GET', KEYS[1])
if current then return current end
local value = ARGV[1] .. string.format('%06d', redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], value)
return value
"""

# KEYS: 1 = the key read, 2 = the counted key, 3 = the counter; ARGV: 1 = prefix. Returns both values; the counter
# moves only when both keys are absent.
_READ_COUNTED = """
local current = redis.call('GET', KEYS[1])
local counted = redis.call('GET', KEYS[2])
if (not current) and (not counted) then
    counted = ARGV[1] .. string.format('%06d', redis.call('INCR', KEYS[3]))
    redis.call('SET', KEYS[2], counted)
end
return {current, counted}
"""


class RedisStore:
    """The real store: redis-py's asyncio client."""

    def __init__(self, url: str, *, namespace: str = "qf") -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=15)
        self._ns = namespace
        self._delete_if_equals = self._client.register_script(_DELETE_IF_EQUALS)
        self._delete_all_if_equal = self._client.register_script(_DELETE_ALL_IF_EQUAL)
        self._guarded_writes = self._client.register_script(_GUARDED_WRITES)
        self._compare_and_set = self._client.register_script(_COMPARE_AND_SET)
        self._set_counted = self._client.register_script(_SET_COUNTED)
        self._read_counted = self._client.register_script(_READ_COUNTED)

    def _k(self, key: str) -> str:
        return f"{self._ns}:{key}"

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._k(key))
        return _as_bytes(value) if value is not None else None

    async def set(
        self, key: str, value: bytes | str, *, ttl_s: int | None = None, only_if_absent: bool = False
    ) -> bool:
        result = await self._client.set(self._k(key), value, ex=ttl_s or None, nx=only_if_absent)
        return bool(result)

    async def delete(self, *keys: str) -> int:
        return int(await self._client.delete(*(self._k(k) for k in keys))) if keys else 0

    async def exists(self, key: str) -> bool:
        return bool(await self._client.exists(self._k(key)))

    async def incr(self, key: str) -> int:
        return int(await self._client.incr(self._k(key)))

    async def set_counted(self, key: str, counter: str, prefix: str) -> str:
        value = await self._set_counted(keys=[self._k(key), self._k(counter)], args=[prefix])
        return _as_bytes(value).decode()

    async def read_counted(self, key: str, counted: str, counter: str, prefix: str) -> tuple[bytes | None, str | None]:
        current, number = await self._read_counted(
            keys=[self._k(key), self._k(counted), self._k(counter)], args=[prefix]
        )
        return (
            _as_bytes(current) if current else None,
            _as_bytes(number).decode() if number else None,
        )

    async def hset(self, key: str, field: str, value: bytes | str) -> None:
        await self._client.hset(self._k(key), field, value)  # type: ignore[misc]

    async def hget(self, key: str, field: str) -> bytes | None:
        value = await self._client.hget(self._k(key), field)  # type: ignore[misc]
        return _as_bytes(value) if value is not None else None

    async def hgetall(self, key: str) -> dict[str, bytes]:
        raw = await self._client.hgetall(self._k(key))  # type: ignore[misc]
        return {(k.decode() if isinstance(k, bytes) else k): _as_bytes(v) for k, v in raw.items()}

    async def expire(self, key: str, ttl_s: int) -> None:
        await self._client.expire(self._k(key), ttl_s)

    async def ping(self) -> bool:
        return bool(await self._client.ping())  # type: ignore[misc]

    async def close(self) -> None:
        await self._client.aclose()

    async def read(self, keys: Sequence[str] = (), hashes: Sequence[str] = ()) -> Snapshot:
        pipeline = self._client.pipeline(transaction=False)
        self._queue_read(pipeline, keys, hashes)
        return self._snapshot(await pipeline.execute() if keys or hashes else [], keys, hashes)

    async def take_and_read(
        self, key: str, token: bytes | str, *, ttl_s: int, keys: Sequence[str] = (), hashes: Sequence[str] = ()
    ) -> tuple[bool, Snapshot]:
        pipeline = self._client.pipeline(transaction=False)  # in order on the server, not atomic
        pipeline.set(self._k(key), token, ex=ttl_s, nx=True)
        self._queue_read(pipeline, keys, hashes)
        results = await pipeline.execute()
        return bool(results[0]), self._snapshot(results[1:], keys, hashes)

    def _queue_read(self, pipeline: Any, keys: Sequence[str], hashes: Sequence[str]) -> None:
        if keys:
            pipeline.mget([self._k(k) for k in keys])
        for name in hashes:
            pipeline.hgetall(self._k(name))

    @staticmethod
    def _snapshot(results: list[Any], keys: Sequence[str], hashes: Sequence[str]) -> Snapshot:
        values = results.pop(0) if keys else []
        return Snapshot(
            {k: _as_bytes(v) if v is not None else None for k, v in zip(keys, values, strict=True)},
            {
                name: {(f.decode() if isinstance(f, bytes) else f): _as_bytes(v) for f, v in raw.items()}
                for name, raw in zip(hashes, results, strict=True)
            },
        )

    async def delete_if_equals(self, key: str, value: bytes | str) -> bool:
        return bool(await self._delete_if_equals(keys=[self._k(key)], args=[value]))

    async def delete_all_if_equal(self, pairs: Sequence[tuple[str, bytes | str]]) -> int:
        if not pairs:
            return 0
        keys, values = [self._k(key) for key, _ in pairs], [value for _, value in pairs]
        return int(await self._delete_all_if_equal(keys=keys, args=values))

    async def compare_and_set(self, key: str, expected: bytes | str | None, value: bytes | str) -> bool:
        flag, old = ("0", b"") if expected is None else ("1", expected)
        return bool(await self._compare_and_set(keys=[self._k(key)], args=[flag, old, value]))

    def batch(self) -> RedisWriteBatch:
        return RedisWriteBatch(self._client, self._guarded_writes, self._ns)


def build_store(settings: Settings) -> Store:
    """The Redis store named by the settings (the embedded stack fills in its URL)."""
    if settings.redis_url is None:
        raise ValueError("redis_url is not set: start the embedded stack first")
    return RedisStore(settings.redis_url.get_secret_value())
