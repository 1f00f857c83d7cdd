"""Reading a topic from the beginning, without a consumer group, until the records a test waits for are there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.consumer import TENANT_HEADER
from shared.settings import Settings


def with_tenant(tenant: str) -> Callable[[Any], bool]:
    """Matches records carrying this tenant header."""
    return lambda record: dict(record.headers or ()).get(TENANT_HEADER, b"").decode() == tenant


def with_key(key: bytes) -> Callable[[Any], bool]:
    """Matches records with this Kafka key."""
    return lambda record: record.key == key


async def read_records(
    settings: Settings,
    topic: str,
    until: Callable[[list[Any]], bool],
    *,
    match: Callable[[Any], bool] = lambda _record: True,
    timeout_s: float = 60.0,
    linger_ms: int = 0,
) -> list[Any]:
    """The matching records of ``topic``, read until ``until(found)`` holds or the timeout; then, for
    ``linger_ms`` more, whatever follows right behind them (a duplicate that must not be there)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not until(found) and loop.time() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(r for r in part if match(r))
        if linger_ms:
            for part in (await consumer.getmany(timeout_ms=linger_ms)).values():
                found.extend(r for r in part if match(r))
    finally:
        await consumer.stop()
    return found
