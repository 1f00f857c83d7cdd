"""The trainer service on the real broker and Redis: corrections in, dead letters out, adapters announced.

One trainer runtime serves the whole module (a consumer group takes seconds to settle after a member leaves).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.trainer.corrections import fewshot_key, thread_key
from services.trainer.main import TrainerRuntime, build_service
from services.trainer.registry import AdapterRegistry
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.consumer import DLQ_HEADER_PREFIX
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.settings import Settings
from tests.services.trainer.corpus import make_correction

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

WAIT_S = 60.0


def _settings(stack: Settings, root: Path, **update: object) -> TrainerSettings:
    values: dict[str, object] = {
        "kafka_bootstrap": stack.kafka_bootstrap,
        "kafka_idempotence": stack.kafka_idempotence,
        "redis_url": stack.redis_url,
        "dataset_dir": root / "dataset",
        "adapters_dir": root / "adapters",
        "trainer_cache_dir": root / "cache",
        "schedule_enabled": False,
    }
    return TrainerSettings().model_copy(update=values | update)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trainer(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TrainerRuntime]:
    tmp_path = tmp_path_factory.mktemp("trainer-service")
    promoted = AdapterEvent(
        adapter_id="qf-previous", base_model="/models/b", path="/adapters/qf-previous", promoted=True
    )
    AdapterRegistry(tmp_path / "adapters").record(promoted)  # in service before this start
    runtime = build_service(_settings(stack, tmp_path))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _publish(settings: Settings, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _records(settings: Settings, topic: str, done: Callable[[list[object]], bool]) -> list[object]:
    """Read a topic from the beginning until ``done(records)`` or WAIT_S pass."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[object] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while not done(records) and loop.time() < deadline:
            for part in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def _until(check: Callable[[], Awaitable[bool]]) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


def _adapter_events(records: list[object]) -> list[AdapterEvent]:
    return [AdapterEvent.model_validate_json(r.value) for r in records]  # type: ignore[attr-defined]


async def test_corrections_are_stored_and_bad_ones_dead_lettered(stack: Settings, trainer: TrainerRuntime) -> None:
    thread, correction = make_correction(21, tenant="it")
    await trainer.store.set(thread_key("it", thread.thread_id), thread.model_dump_json())
    _, unknown = make_correction(22, tenant="it")
    await _publish(
        stack,
        topics.FACTS_CORRECTED,
        [
            (b"thread-21", correction.model_dump_json().encode()),
            (b"thread-22", unknown.model_dump_json().encode()),
            (b"bad", json.dumps({"thread_id": "x", "facts": {"moq": "many"}}).encode()),
        ],
    )

    assert await _until(lambda: trainer.store.hget(fewshot_key("it"), "thread-21"))  # type: ignore[arg-type, return-value]
    entry = json.loads((await trainer.store.hget(fewshot_key("it"), "thread-21")) or b"{}")
    assert entry["facts"] == correction.facts.model_dump(mode="json")

    dead = await _records(stack, topics.dlq(topics.FACTS_CORRECTED), lambda rs: len(rs) >= 2)
    reasons = sorted(dict(r.headers)[f"{DLQ_HEADER_PREFIX}error-message"].decode() for r in dead)  # type: ignore[attr-defined]
    assert any("unknown thread 'thread-22'" in reason for reason in reasons)
    assert any("invalid FactsCorrected" in reason for reason in reasons)

    settings = trainer.settings
    assert isinstance(settings, TrainerSettings)
    assert json.loads((settings.dataset_dir / "manifest.json").read_text())["total_records"] == 1


async def test_start_up_announces_the_adapter_in_service(stack: Settings, trainer: TrainerRuntime) -> None:
    """The registry's adapter in service was not in the store: the service announces it when it starts."""
    stored = await trainer.store.get(PROMOTED_ADAPTER_KEY)
    assert stored is not None and AdapterEvent.model_validate_json(stored).adapter_id == "qf-previous"
    events = _adapter_events(await _records(stack, topics.MODELS_ADAPTERS, lambda rs: len(rs) >= 1))
    assert "qf-previous" in [e.adapter_id for e in events]
