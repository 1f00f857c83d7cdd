"""Operators list dead letters with their reasons and replay them, each once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

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
    with pytest.raises(ValueError, match="no such topic"):
        dlq.dead_letter_topic("emails.cooked")


def _cli(args: list[str], settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env.update({"QUOTEFLOW_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap), "COLUMNS": "300"})
    env["QUOTEFLOW_LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_show_prints_untrusted_keys_and_headers_literally(stack: Settings, tmp_path: Path) -> None:
    await ensure_topics(stack, topics.ALL_TOPICS)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.dlq(topics.THREADS_NORMALIZED),
            b"{}",
            key=b"[bold red]key\x1b[2J",
            headers=[
                ("x-quoteflow-dlq-error-class", b"shared.consumer.PermanentError"),
                ("x-quoteflow-dlq-error-message", b"[bold red]boom\x1b[2J\x1b]0;pwned\x07\rgone"),
                ("x-quoteflow-dlq-attempt", b"1"),
                ("x-quoteflow-dlq-service", b"[link=http://evil]extract[/link]\x1b[31m"),
            ],
        )
    finally:
        await producer.stop()

    result = await asyncio.to_thread(_cli, ["dlq", "show", "threads.normalized"], stack, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and "\r" not in result.stdout
    assert "[bold red]key\\x1b[2J" in result.stdout
    assert "PermanentError: [bold red]boom\\x1b[2J\\x1b]0;pwned\\x07\\rgone" in result.stdout
    assert "[link=http://evil]extract[/link]\\x1b[31m" in result.stdout


def test_show_of_an_unknown_topic_is_one_line(stack: Settings, tmp_path: Path) -> None:
    result = _cli(["dlq", "show", "emails.cooked"], stack, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no such topic 'emails.cooked': choose one of emails.raw, threads.normalized, facts.extracted, "
        "quotes.generated, facts.corrected, models.adapters"
    ]
