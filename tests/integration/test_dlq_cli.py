"""Operators list dead letters with their reasons and replay them, each once."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services import dlq
from shared import topics
from shared.broker import ensure_topics
from shared.consumer import publish_dead_letter
from shared.settings import Settings
from shared.telemetry import build_telemetry

pytestmark = pytest.mark.integration


async def test_show_and_replay_once(stack: Settings) -> None:
    from shared.broker import build_broker

    await ensure_topics(stack, topics.ALL_TOPICS)
    client_settings = stack.model_copy(update={"service_name": "test"})
    broker = build_broker(client_settings, build_telemetry(client_settings))
    await broker.connect()
    try:
        for index in range(2):
            await publish_dead_letter(
                broker,
                topic=topics.FACTS_CORRECTED,
                body=f'{{"thread_id": "t-{index}"}}'.encode(),
                key=f"t-{index}".encode(),
                original_headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                exc=ValueError("facts: field required"),
                attempt=1,
                service="trainer",
            )
    finally:
        await broker.stop()

    letters = sorted(await dlq.show(stack, "facts.corrected"), key=lambda letter: letter.key)
    assert [(letter.key, letter.error_message) for letter in letters] == [
        ("t-0", "facts: field required"),
        ("t-1", "facts: field required"),
    ]
    assert letters[0].service == "trainer" and letters[0].error_class == "builtins.ValueError"

    assert await dlq.replay(stack, "quoteflow.facts.corrected.dlq") == 2
    assert await dlq.replay(stack, "facts.corrected") == 0  # already replayed
    consumer = AIOKafkaConsumer(
        topics.FACTS_CORRECTED, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    replayed: list[Any] = []
    try:
        for _ in range(50):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                replayed.extend(records)
            if len(replayed) >= 2:
                break
    finally:
        await consumer.stop()
    assert sorted(r.key for r in replayed) == [b"t-0", b"t-1"]
    headers = dict(replayed[0].headers)
    assert "traceparent" in headers and not any(k.startswith("x-quoteflow-dlq-") for k in headers)


def test_unknown_topic_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown topic"):
        dlq.dead_letter_topic("emails.cooked")
