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
from aiokafka.errors import KafkaError

from services.extract.main import build_service as build_extract
from services.extract.settings import ExtractSettings
from services.ingest.mailfiles import MailFile, assemble_offline
from services.ingest.main import build_service as build_ingest
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from services.quote.main import build_service as build_quote
from services.quote.settings import QuoteSettings
from services.trainer.main import build_service as build_trainer
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.broker import build_broker, ensure_topics, kafka_client_kwargs
from shared.events import FactsExtracted, QuoteGenerated
from shared.service import ServiceRuntime
from shared.settings import Settings
from shared.store import MemoryStore, Store, build_store
from shared.telemetry import Telemetry, build_telemetry
from shared.tenants import check_plain_name, contained, safe_file_name, unique_names

logger = logging.getLogger(__name__)

SERVICE_NAMES = ("ingest", "extract", "quote", "trainer")
"""The pipeline: what ``quoteflow process`` runs."""
ALL_SERVICE_NAMES = (*SERVICE_NAMES, "review")
"""Every service (``quoteflow run``, ``quoteflow serve``): the pipeline and the review desk."""
CONNECTION_FIELDS = ("kafka_bootstrap", "kafka_idempotence", "redis_url")


def _service_factories() -> dict[str, tuple[type[Settings], Callable[..., ServiceRuntime]]]:
    from services.review.main import build_service as build_review  # FastAPI and uvicorn: only when asked for
    from services.review.settings import ReviewSettings

    return {
        "ingest": (IngestSettings, build_ingest),
        "extract": (ExtractSettings, build_extract),
        "quote": (QuoteSettings, build_quote),
        "trainer": (TrainerSettings, build_trainer),
        "review": (ReviewSettings, build_review),
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


# --------------------------------------------------------------------------- process


class PipelineUnavailable(Exception):
    """Kafka or Redis cannot be reached; the message names which and where."""


@dataclass
class ThreadOutcome:
    """What became of one input file: its thread's facts and quote, or why none will come."""

    name: str
    thread_id: str
    messages: int
    source: str = ""
    facts: FactsExtracted | None = None
    quote: QuoteGenerated | None = None
    dead_letters: list[str] = field(default_factory=list)
    note: str | None = None
    """Known before publishing: the file joins another file's thread, repeats it, or holds no e-mail."""
    settled: bool = False
    """The note is an expected end (merged, duplicate), not a failure."""
    expected_rejects: int = 0
    raw_dead_letters: int = 0

    @property
    def key(self) -> bytes:
        """The Kafka key its mail is published with: the thread id, so one thread's messages keep their
        order on one partition (also across files), else the file's folder name."""
        return (self.thread_id if self.thread_id != "-" else self.name).encode()

    @property
    def done(self) -> bool:
        if self.facts is None or self.facts.thread_version < self.messages:
            return False
        return self.quote is not None and self.quote.facts_hash == self.facts.facts.content_hash()

    @property
    def ok(self) -> bool:
        """Done, or nothing of its own to do (merged into or a repeat of another file's thread)."""
        return self.done or self.settled

    @property
    def finished(self) -> bool:
        """Done, or nothing more will come: a note, or a dead letter that ends the thread."""
        if self.done or self.note is not None:
            return True
        return len(self.dead_letters) > self.raw_dead_letters or self.raw_dead_letters > self.expected_rejects

    def status(self) -> str:
        """Why there is no final quote, in the user's terms."""
        if self.note is not None:
            return self.note
        if self.dead_letters:
            return "dead-lettered: " + "; ".join(self.dead_letters)
        if self.facts is None:
            return "timed out: no facts extracted"
        return "timed out waiting for the final quote"


async def plan_outcomes(files: Sequence[MailFile], settings: IngestSettings) -> list[ThreadOutcome]:
    """One outcome per file, as ingest will see the files in this order (one store for all of them, so
    a file that continues or repeats an earlier file's thread is known before anything is published)."""
    from services.ingest.mailfiles import assemble_offline_detailed

    names = unique_names([safe_file_name(file.name, "mail") for file in files])
    sources = short_paths([str(file.path) for file in files])
    shared = MemoryStore()
    owners: dict[str, ThreadOutcome] = {}
    unowned: dict[str, int] = {}
    """Threads only a refused file (several conversations) has had so far, with their versions."""
    outcomes: list[ThreadOutcome] = []
    for file, name, source in zip(files, names, sources, strict=True):
        result = await assemble_offline_detailed(file, settings, shared)
        rejected = len(result.rejected)
        if len(result.versions) > 1:
            # Only the last thread would be waited for and written: the others would vanish unsaid.
            for thread_id, version in result.versions.items():
                if (earlier := owners.get(thread_id)) is not None:
                    earlier.messages = version  # its file's thread goes on in this one: wait for all of it
                else:
                    unowned[thread_id] = version  # a later file of this thread writes it
            note = f"holds {len(result.versions)} conversations, not one: nothing written (one per file)"
            outcomes.append(ThreadOutcome(name, "-", 0, source, note=note, expected_rejects=rejected))
            continue
        if result.thread is not None:
            owner = owners.get(result.thread.thread_id)
            if owner is None:
                unowned.pop(result.thread.thread_id, None)
                owner = ThreadOutcome(name, result.thread.thread_id, result.thread.version, source)
                owner.expected_rejects = rejected
                owners[owner.thread_id] = owner
                outcomes.append(owner)
                continue
            owner.messages = result.thread.version
            owner.expected_rejects += rejected
            thread_id, note, settled = owner.thread_id, f"merged into the thread of {owner.source}", True
        elif result.duplicates:
            alone = await assemble_offline(file, settings)
            if alone is not None and alone.thread_id in unowned:  # repeats a refused file's conversation
                owner = ThreadOutcome(name, alone.thread_id, unowned.pop(alone.thread_id), source)
                owner.expected_rejects = rejected
                owners[owner.thread_id] = owner
                outcomes.append(owner)
                continue
            owner = owners.get(alone.thread_id) if alone is not None else None
            thread_id = alone.thread_id if alone is not None else "-"
            note, settled = f"duplicate of {owner.source if owner else 'an earlier file'}", True
        elif result.rejected:
            thread_id, note, settled = "-", "dead-lettered: " + "; ".join(r.reason for r in result.rejected), False
        else:
            thread_id, note, settled = "-", "no messages", False
        outcome = ThreadOutcome(name, thread_id, 0, source, note=note, settled=settled, expected_rejects=rejected)
        outcomes.append(outcome)
    return outcomes


async def _already_seen(outcomes: list[ThreadOutcome], files: Sequence[MailFile], settings: IngestSettings) -> None:
    """Files whose every message the pipeline's Redis has seen before: ingest will drop them as duplicates."""
    from services.ingest.normalize import BadEmail, normalize_raw

    store = await _reachable_store(settings)
    try:
        repository = ThreadRepository(store, settings)
        for outcome, file in zip(outcomes, files, strict=True):
            if outcome.note is not None or not file.messages:
                continue
            seen = 0
            for raw in file.messages:
                try:
                    seen += await repository.is_duplicate(normalize_raw(raw, settings))
                except BadEmail:
                    seen += 1
            if seen == len(file.messages):
                outcome.note = "already processed (every message is a duplicate in Redis)"
                outcome.settled = True
    finally:
        await store.close()


def short_paths(paths: list[str]) -> list[str]:
    """Input paths relative to the folder they have in common (``a/quote.mbox``, ``b/quote.mbox``);
    as given when that folder is the filesystem root."""
    if not paths:
        return []
    try:
        root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # pragma: no cover - different drives on Windows
        return paths
    if os.path.dirname(root) == root:
        return paths
    return [os.path.relpath(os.path.abspath(p), root) for p in paths]


async def check_redis(settings: Settings) -> None:
    """PipelineUnavailable naming the Redis when it does not answer."""
    store = await _reachable_store(settings)
    await store.close()


def _where(url: str) -> str:
    """host:port of a URL, never its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"


async def _reachable_store(settings: Settings) -> Store:
    """The pipeline's Redis, or PipelineUnavailable naming it: the services would otherwise retry in silence."""
    store = build_store(settings)
    assert settings.redis_url is not None
    try:
        await store.ping()
    except Exception as exc:
        await store.close()
        raise PipelineUnavailable(f"Redis at {_where(settings.redis_url.get_secret_value())} unreachable") from exc
    return store


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
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise PipelineUnavailable(f"Kafka at {settings.kafka_bootstrap} unreachable ({exc})") from exc
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
    """Publish the files to quoteflow.emails.raw and wait for each thread's final quote (one outcome per file)."""
    ingest_settings = IngestSettings().model_copy(update={f: getattr(settings, f) for f in CONNECTION_FIELDS})
    outcomes = await plan_outcomes(files, ingest_settings)
    await _already_seen(outcomes, files, ingest_settings)
    by_thread = {o.thread_id: o for o in outcomes if o.note is None}
    by_key = {o.key.decode(): o for o in outcomes if o.thread_id == "-"} | by_thread
    watched = [topics.FACTS_EXTRACTED, topics.QUOTES_GENERATED, *(topics.dlq(t) for t in topics.PIPELINE_TOPICS)]
    collector = await _collector(settings, watched)
    client_settings = settings.model_copy(update={"service_name": "quoteflow-cli"})
    telemetry = build_telemetry(client_settings)
    broker = build_broker(client_settings, telemetry)
    dead_letters = 0
    try:
        await broker.connect()
        for file, outcome in zip(files, outcomes, strict=True):
            for raw in file.messages:
                await broker.publish(raw, topics.EMAILS_RAW, key=outcome.key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(o.finished for o in outcomes) and loop.time() < deadline:
            batch = await collector.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for record in records:
                    if tp.topic.endswith(".dlq"):
                        dead_letters += 1
                        _record_dead_letter(by_thread, by_key, tp.topic, record)
                        continue
                    _record_result(by_thread, tp.topic, record.value, on_progress)
    finally:
        await collector.stop()
        await broker.stop()
        telemetry.shutdown()
    if dead_letters:
        logger.warning("%d message(s) went to dead-letter topics", dead_letters)
    return outcomes


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


def _record_dead_letter(
    by_thread: dict[str, ThreadOutcome], by_key: dict[str, ThreadOutcome], topic: str, record: Any
) -> None:
    """A dead letter of ours: raw mail by its published key (thread id or folder name), later records by thread id."""
    key = record.key.decode("utf-8", "replace") if record.key else ""
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
    reason = headers.get("x-quoteflow-dlq-error-message", "unknown error")
    if topic == topics.dlq(topics.EMAILS_RAW):
        outcome = by_key.get(key)
        if outcome is not None:
            outcome.raw_dead_letters += 1
            outcome.dead_letters.append(reason)
        return
    outcome = by_thread.get(key)
    if outcome is not None:
        outcome.dead_letters.append(reason)


def write_outcome(outcome: ThreadOutcome, out_dir: Path) -> list[Path]:
    """Write the quote (Markdown, HTML) and the facts of one file into ``out_dir/<name>/``.

    Names are plain and unique per run (:func:`plan_outcomes`); the folder is checked to
    stay inside ``out_dir`` all the same. Nothing is written for a file without results.
    """
    if outcome.facts is None and outcome.quote is None:
        return []
    folder = out_dir / check_plain_name(outcome.name, "output folder")
    contained(out_dir, folder)
    folder.mkdir(parents=True, exist_ok=True)
    contents: dict[str, str] = {}
    if outcome.facts is not None:
        contents["facts.json"] = outcome.facts.model_dump_json(indent=2)
    if outcome.quote is not None:
        contents |= {"quote.md": outcome.quote.markdown, "quote.html": outcome.quote.html}
    for file_name in contents:  # all checked first: a symlink left in the folder (quote.md -> ~/.bashrc)
        contained(folder, folder / file_name)  # is never followed, and nothing is half written
    written = []
    for file_name, content in contents.items():
        path = folder / file_name
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
