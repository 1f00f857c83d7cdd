"""Adapter state (store key, events, rollback) and the extract service wired with the LLM engine.

The integration test runs the real service on the embedded Kafka-compatible broker and
Redis, with the TGI test server behind it: a normalized thread in, facts.extracted out
with the promoted adapter, and an adapters event switching the adapter while running.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import generate_latest

from services.cli_support import UserError
from services.extract.adapters import AdapterState
from services.extract.llm.engine import LlmEngine
from services.extract.main import MISSING_LLM_URL, build_engine, build_service
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from shared import topics
from shared.events import AdapterEvent, FactsExtracted
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.llm_format.answers import facts_schema, summary_tags_schema
from shared.settings import Settings
from shared.store import MemoryStore, RedisStore
from tests.services.extract.llm.conftest import TALK_FACTS, TALK_TEXTS, answer_json, make_thread
from tests.support.tgi_server import RecordedRequest, Reply, TgiTestServer


def adapter_event(adapter_id: str, *, promoted: bool = True, previous: str | None = None) -> AdapterEvent:
    return AdapterEvent(
        adapter_id=adapter_id,
        base_model="google/gemma-2-2b-it",
        path=f"/adapters/{adapter_id}",
        promoted=promoted,
        previous_adapter_id=previous,
    )


async def test_state_reads_the_store_and_follows_events_and_rollbacks() -> None:
    store = MemoryStore()
    state = AdapterState(store=store, configured_id="from-settings", refresh_s=3600)
    assert await state.current() == "from-settings"
    await store.set(PROMOTED_ADAPTER_KEY, adapter_event("v2").model_dump_json())
    await state.refresh()
    assert state.adapter_id == "v2" and state.source == "store"
    assert state.apply(adapter_event("v3", previous="v2"))
    assert not state.apply(adapter_event("v9", promoted=False))  # a rejected candidate changes nothing
    assert state.apply(adapter_event("v3", promoted=False, previous="v2"))  # withdrawn: back to v2
    assert state.adapter_id == "v2"


async def test_malformed_store_key_keeps_the_current_adapter() -> None:
    store = MemoryStore()
    await store.set(PROMOTED_ADAPTER_KEY, "{broken")
    state = AdapterState(store=store, configured_id="v1")
    assert await state.current() == "v1"


def test_llm_engine_without_url_says_what_is_missing() -> None:
    """A GPU server flavour chosen without its URL is an error; with no flavour chosen the embedded one is used."""
    with pytest.raises(UserError, match="QUOTEFLOW_LLM_URL"):
        build_engine(ExtractSettings(engine="llm", llm_flavour="tgi"))
    assert "--engine rules" in MISSING_LLM_URL
    assert ExtractSettings(engine="llm").llm_flavour == "llamacpp"
    assert isinstance(build_engine(ExtractSettings(engine="rules")), RulesEngine)
    assert isinstance(build_engine(ExtractSettings(engine="llm", llm_url="http://tgi:80")), LlmEngine)


def test_budget_must_stay_far_below_the_poll_interval() -> None:
    with pytest.raises(ValueError, match="llm_total_budget_s"):
        ExtractSettings(llm_total_budget_s=200, kafka_max_poll_interval_ms=300_000)


def scripted(request: RecordedRequest) -> Reply:
    """Answers by task, as the served adapter or the base model would."""
    if request.schema == facts_schema():
        return Reply(text=json.dumps(TALK_FACTS, ensure_ascii=False))
    if request.schema == summary_tags_schema():
        return Reply(text=json.dumps({"summary": "요약", "tags": ["견적"]}, ensure_ascii=False))
    return Reply(text=answer_json())


async def _publish(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _next_event(consumer: AIOKafkaConsumer, thread_id: str, version: int, timeout_s: float) -> FactsExtracted:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                event = FactsExtracted.model_validate_json(record.value)
                if event.thread_id == thread_id and event.thread_version == version:
                    return event
    raise AssertionError(f"no facts.extracted for {thread_id} v{version} within {timeout_s} s")


@pytest.mark.integration
async def test_service_extracts_with_the_promoted_adapter_and_switches_on_an_event(stack: Settings) -> None:
    redis_url = stack.redis_url.get_secret_value() if stack.redis_url else ""
    seed = RedisStore(redis_url)
    await seed.set(PROMOTED_ADAPTER_KEY, adapter_event("extract-v3").model_dump_json())
    await seed.close()
    async with TgiTestServer(lora_adapters=["extract-v3", "extract-v4"], responder=scripted) as server:
        values: dict[str, Any] = {**stack.model_dump(), "engine": "llm", "llm_url": server.url}
        settings = ExtractSettings(**values, llm_adapter_refresh_s=3600, llm_backoff_s=0.01)
        runtime = build_service(settings)
        consumer = AIOKafkaConsumer(
            topics.FACTS_EXTRACTED, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await runtime.start()
        await consumer.start()
        try:
            thread = make_thread(TALK_TEXTS, thread_id="t-service")
            await _publish(stack, topics.THREADS_NORMALIZED, b"t-service", thread.model_dump_json().encode())
            first = await _next_event(consumer, "t-service", thread.version, 60)
            assert first.engine == "llm" and first.adapter_id == "extract-v3"
            assert first.facts.items[0].unit_price == 9500
            metrics = generate_latest(runtime.metrics.registry).decode()
            assert 'quoteflow_llm_requests_total{outcome="ok",service="extract"}' in metrics
            assert 'quoteflow_llm_tokens_total{direction="input",service="extract"}' in metrics
            assert "quoteflow_llm_latency_seconds_count" in metrics
            # Per thread: two requests (the adapter's facts, then summary and tags), tokens counted.
            assert 'quoteflow_extract_llm_calls_per_thread_sum{service="extract"} 2.0' in metrics
            assert 'quoteflow_extract_llm_generated_tokens_per_thread_count{service="extract"} 1.0' in metrics

            # The worker's own group starts at "latest": repeat the event until its subscription has it.
            version = thread.version
            seen_v4 = False
            for _ in range(20):
                await _publish(
                    stack, topics.MODELS_ADAPTERS, b"extract-v4", adapter_event("extract-v4").model_dump_json().encode()
                )
                await asyncio.sleep(0.5)
                version += 1
                newer = thread.model_copy(update={"version": version})
                await _publish(stack, topics.THREADS_NORMALIZED, b"t-service", newer.model_dump_json().encode())
                event = await _next_event(consumer, "t-service", version, 60)
                if event.adapter_id == "extract-v4":
                    seen_v4 = True
                    break
            assert seen_v4
        finally:
            await consumer.stop()
            await runtime.stop()


def test_hub_offline_mode_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants as hub_constants

    from services.extract.main import HUB_OFFLINE_BLOCKS_LLM

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    settings = ExtractSettings(engine="llm", llm_url="http://127.0.0.1:9")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        build_engine(settings)
    assert "inference server" in HUB_OFFLINE_BLOCKS_LLM
