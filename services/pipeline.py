"""Run the services together and feed mail through them.

``quoteflow run`` and ``quoteflow process`` use these: the embedded broker and
store (or the configured ones), the four services in this process, and a client
that publishes mail files and collects the resulting quotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.extract.main import build_service as build_extract
from services.extract.settings import ExtractSettings
from services.ingest.mailfiles import MailFile, assemble_offline
from services.ingest.main import build_service as build_ingest
from services.ingest.settings import IngestSettings
from services.quote.main import build_service as build_quote
from services.quote.settings import QuoteSettings
from services.trainer.main import build_service as build_trainer
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.broker import build_broker, ensure_topics, kafka_client_kwargs
from shared.events import FactsExtracted, QuoteGenerated
from shared.service import ServiceRuntime
from shared.settings import Settings
from shared.store import Store
from shared.telemetry import Telemetry, build_telemetry

logger = logging.getLogger(__name__)

SERVICE_NAMES = ("ingest", "extract", "quote", "trainer")
CONNECTION_FIELDS = ("kafka_bootstrap", "kafka_idempotence", "redis_url")


def _service_factories() -> dict[str, tuple[type[Settings], Callable[..., ServiceRuntime]]]:
    return {
        "ingest": (IngestSettings, build_ingest),
        "extract": (ExtractSettings, build_extract),
        "quote": (QuoteSettings, build_quote),
        "trainer": (TrainerSettings, build_trainer),
    }


def build_named_service(
    name: str,
    connections: Settings,
    telemetry: Telemetry | None = None,
    store: Store | None = None,
    **overrides: Any,
) -> ServiceRuntime:
    """One service with its own settings (from the environment) on the given broker and store."""
    settings_cls, factory = _service_factories()[name]
    update = {f: getattr(connections, f) for f in CONNECTION_FIELDS}
    update.update(overrides)
    settings = settings_cls().model_copy(update=update)
    return factory(settings, telemetry=telemetry, store=store)


def _ops_port(connections: Settings, index: int) -> dict[str, Any]:
    """Ops endpoints for services sharing a process: port 0 stays 0 (any free port), N becomes N + index."""
    if connections.ops_port is None:
        return {}
    port = connections.ops_port + index if connections.ops_port else 0
    return {"ops_port": port, "ops_host": connections.ops_host}


@contextlib.asynccontextmanager
async def running_services(
    connections: Settings,
    names: Sequence[str] = SERVICE_NAMES,
    telemetry_for: Callable[[str], Telemetry | None] = lambda _name: None,
) -> AsyncIterator[list[ServiceRuntime]]:
    """Start the named services in this process; stop them (in reverse) on exit."""
    await ensure_topics(connections, topics.ALL_TOPICS)
    runtimes = [
        build_named_service(name, connections, telemetry=telemetry_for(name), **_ops_port(connections, index))
        for index, name in enumerate(names)
    ]
    try:
        # Consumer groups take seconds to settle on join: start all services at once.
        await asyncio.gather(*(runtime.start() for runtime in runtimes))
        yield runtimes
    finally:
        for runtime in reversed(runtimes):
            with contextlib.suppress(Exception):
                await runtime.stop()


async def expected_threads(files: Sequence[MailFile], settings: IngestSettings) -> dict[str, tuple[str, int]]:
    """thread id → (file name, messages) as ingest will assemble them (same rules, in memory)."""
    expected: dict[str, tuple[str, int]] = {}
    for file in files:
        thread = await assemble_offline(file, settings)
        if thread is not None:
            expected[thread.thread_id] = (file.name, thread.version)
    return expected


# --------------------------------------------------------------------------- process


@dataclass
class ThreadOutcome:
    """What became of one input thread."""

    name: str
    thread_id: str
    messages: int
    facts: FactsExtracted | None = None
    quote: QuoteGenerated | None = None
    dead_letters: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        if self.facts is None or self.facts.thread_version < self.messages:
            return False
        return self.quote is not None and self.quote.facts_hash == self.facts.facts.content_hash()

    @property
    def finished(self) -> bool:
        """Done, or failed: a dead letter for this thread means no final quote will come."""
        return self.done or bool(self.dead_letters)


async def _collector(settings: Settings, wanted_topics: Sequence[str]) -> AIOKafkaConsumer:
    """A group-less consumer positioned at the end of the topics, to see only what follows."""
    kwargs = kafka_client_kwargs(settings)
    consumer = AIOKafkaConsumer(
        client_id=f"{settings.service_name}-collector",
        enable_auto_commit=False,
        fetch_max_bytes=settings.kafka_max_message_bytes,
        max_partition_fetch_bytes=settings.kafka_max_message_bytes,
        **kwargs,
    )
    await consumer.start()
    partitions = []
    for topic in wanted_topics:
        for partition in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic):
            partitions.append(TopicPartition(topic, partition))
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    return consumer


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


async def process_files(
    files: Sequence[MailFile],
    settings: Settings,
    *,
    timeout_s: float = 120.0,
    on_progress: Callable[[ThreadOutcome], None] | None = None,
) -> list[ThreadOutcome]:
    """Publish the files to quoteflow.emails.raw and wait for each thread's final quote."""
    ingest_settings = IngestSettings().model_copy(update={f: getattr(settings, f) for f in CONNECTION_FIELDS})
    expected = await expected_threads(files, ingest_settings)
    outcomes = {tid: ThreadOutcome(name=name, thread_id=tid, messages=n) for tid, (name, n) in expected.items()}
    watched = [topics.FACTS_EXTRACTED, topics.QUOTES_GENERATED, *(topics.dlq(t) for t in topics.PIPELINE_TOPICS)]
    collector = await _collector(settings, watched)
    client_settings = settings.model_copy(update={"service_name": "quoteflow-cli"})
    telemetry = build_telemetry(client_settings)
    broker = build_broker(client_settings, telemetry)
    dead_letters = 0
    try:
        await broker.connect()
        for file in files:
            for raw in file.messages:
                await broker.publish(raw, topics.EMAILS_RAW, key=file.name.encode())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(o.finished for o in outcomes.values()) and loop.time() < deadline:
            batch = await collector.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    if tp.topic.endswith(".dlq"):
                        dead_letters += 1
                        _record_dead_letter(outcomes, record)
                        continue
                    _record_result(outcomes, tp.topic, record.value, on_progress)
    finally:
        await collector.stop()
        await broker.stop()
        telemetry.shutdown()
    if dead_letters:
        logger.warning("%d message(s) went to dead-letter topics", dead_letters)
    return list(outcomes.values())


def _record_result(
    outcomes: dict[str, ThreadOutcome], topic: str, value: bytes, on_progress: Callable[[ThreadOutcome], None] | None
) -> None:
    if topic == topics.FACTS_EXTRACTED:
        facts = FactsExtracted.model_validate_json(value)
        outcome = outcomes.get(facts.thread_id)
        if outcome and (outcome.facts is None or facts.thread_version >= outcome.facts.thread_version):
            outcome.facts = facts
    else:
        quote = QuoteGenerated.model_validate_json(value)
        outcome = outcomes.get(quote.thread_id)
        if outcome and (outcome.quote is None or quote.revision >= outcome.quote.revision):
            outcome.quote = quote
    if outcome and on_progress and outcome.done:
        on_progress(outcome)


def _record_dead_letter(outcomes: dict[str, ThreadOutcome], record: Any) -> None:
    key = record.key.decode("utf-8", "replace") if record.key else ""
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
    reason = headers.get("x-quoteflow-dlq-error-message", "unknown error")
    for outcome in outcomes.values():
        if key in (outcome.thread_id, outcome.name):
            outcome.dead_letters.append(reason)


def write_outcome(outcome: ThreadOutcome, out_dir: Path) -> list[Path]:
    """Write the quote (Markdown, HTML) and the facts of one thread into ``out_dir/<name>/``."""
    folder = out_dir / outcome.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if outcome.facts is not None:
        path = folder / "facts.json"
        path.write_text(outcome.facts.model_dump_json(indent=2), encoding="utf-8")
        written.append(path)
    if outcome.quote is not None:
        for suffix, content in (("md", outcome.quote.markdown), ("html", outcome.quote.html)):
            path = folder / f"quote.{suffix}"
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


# --------------------------------------------------------------------------- services as processes


@dataclass
class ServiceProcess:
    """`quoteflow serve NAME` as a child process (how containers run it), for fault tests and benchmarks."""

    name: str
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    ops_port: int = 0

    def start(self, log_path: Path | None = None) -> None:
        from shared.embedded import free_port

        self.ops_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
        env.update(
            {
                "QUOTEFLOW_KAFKA_BOOTSTRAP": str(self.settings.kafka_bootstrap),
                "QUOTEFLOW_KAFKA_IDEMPOTENCE": str(self.settings.producer_idempotence).lower(),
                "QUOTEFLOW_REDIS_URL": self.settings.redis_url.get_secret_value() if self.settings.redis_url else "",
                "QUOTEFLOW_OPS_PORT": str(self.ops_port),
                "QUOTEFLOW_LOG_LEVEL": "WARNING",
                **self.env,
            }
        )
        output = log_path.open("ab") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "services.cli", "serve", self.name],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until /readyz answers 200 (consumers joined, Redis answering)."""
        import httpx

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with httpx.AsyncClient(timeout=2) as http:
            while loop.time() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with code {self.process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{self.ops_port}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout_s:.0f}s")

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
