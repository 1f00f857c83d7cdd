"""Faults that enterprises worry about, on the real broker and Redis with services as processes.

- SIGKILL of a service in the middle of a stream: every thread still ends with exactly one
  quote revision (no thread lost, no second revision or number);
- SIGTERM: the service finishes or hands back in-flight work and exits cleanly;
- poison messages go to the DLQ with the reason while good ones around them are processed.
"""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.ingest.threads import thread_id_for
from services.pipeline import ServiceProcess
from shared import topics
from shared.broker import ensure_topics
from shared.events import QuoteGenerated
from shared.settings import Settings

pytestmark = pytest.mark.integration


def inquiry(index: int) -> bytes:
    """A one-message thread with a price, quantity and lead time (unique sender and subject)."""
    message = EmailMessage()
    message["From"] = f"Supplier {index} <sales{index}@supplier{index}.example>"
    message["To"] = f"buyer{index}@buyer.example"
    message["Subject"] = f"Offer {index}: valves"
    message["Date"] = format_datetime(datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=index))
    message["Message-ID"] = f"<offer-{index}@supplier{index}.example>"
    message.set_content(f"Our price is USD {10 + index % 7}.50 per piece for {100 + index} pcs, lead time 3 weeks.")
    return message.as_bytes()


async def publish(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=settings.kafka_max_message_bytes
    )
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topics.EMAILS_RAW, value, key=key)
    finally:
        await producer.stop()


class TopicReader:
    """Reads a topic from the beginning without a consumer group."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=settings.kafka_max_message_bytes,
            max_partition_fetch_bytes=settings.kafka_max_message_bytes,
        )
        self.records: list[object] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self) -> None:
        for part in (await self.consumer.getmany(timeout_ms=200)).values():
            self.records.extend(part)


@pytest.fixture
def processes(stack: Settings, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    asyncio.run(ensure_topics(stack, topics.ALL_TOPICS))
    started = {name: ServiceProcess(name, stack) for name in ("ingest", "extract", "quote")}
    try:
        yield started
    finally:
        for process in started.values():
            process.stop()


async def start_all(processes: dict[str, ServiceProcess], logs: Path) -> None:
    for name, process in processes.items():
        process.start(logs / f"{name}.log")
    await asyncio.gather(*(p.wait_ready() for p in processes.values()))


async def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    stack: Settings, processes: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    total = 200
    await start_all(processes, tmp_path)
    await publish(stack, [(f"k{i}".encode(), inquiry(i)) for i in range(total)])
    async with TopicReader(stack, topics.QUOTES_GENERATED) as quotes:
        killed: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 240
        while loop.time() < deadline:
            await quotes.poll()
            seen = len({QuoteGenerated.model_validate_json(r.value).thread_id for r in quotes.records})  # type: ignore[attr-defined]
            for victim, at in (("extract", 30), ("quote", 90)):
                if seen >= at and victim not in killed:
                    processes[victim].signal(signal.SIGKILL)
                    processes[victim].wait()
                    killed.append(victim)
                    processes[victim].start(tmp_path / f"{victim}-restarted.log")
                    await processes[victim].wait_ready()
            if seen >= total:
                # Let any redelivered duplicate arrive before counting.
                for _ in range(10):
                    await quotes.poll()
                break
    assert killed == ["extract", "quote"]
    revisions: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for record in quotes.records:
        quote = QuoteGenerated.model_validate_json(record.value)  # type: ignore[attr-defined]
        revisions[quote.thread_id].add((quote.quote_number, quote.revision))
    assert len(revisions) == total, f"lost threads: {total - len(revisions)}"
    assert all(len(r) == 1 and next(iter(r))[1] == 1 for r in revisions.values())
    numbers = {next(iter(r))[0] for r in revisions.values()}
    assert len(numbers) == total


async def test_sigterm_exits_cleanly_and_hands_back_work(
    stack: Settings, processes: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    await start_all(processes, tmp_path)
    extract = processes["extract"]
    await publish(stack, [(f"t{i}".encode(), inquiry(1000 + i)) for i in range(50)])
    extract.signal(signal.SIGTERM)
    assert extract.wait(45) == 0
    extract.start(tmp_path / "extract-2.log")
    await extract.wait_ready()
    wanted = {thread_id_for("default", f"offer-{i}@supplier{i}.example") for i in range(1000, 1050)}
    async with TopicReader(stack, topics.QUOTES_GENERATED) as quotes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        done: set[str] = set()
        while loop.time() < deadline and not wanted <= done:
            await quotes.poll()
            done = {QuoteGenerated.model_validate_json(r.value).thread_id for r in quotes.records}  # type: ignore[attr-defined]
    assert wanted <= done, f"{len(wanted - done)} thread(s) lost across SIGTERM"


async def test_poison_messages_go_to_dlq_between_good_ones(
    stack: Settings, processes: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    await start_all(processes, tmp_path)
    huge = inquiry(5000).replace(b"lead time 3 weeks.", b"lead time 3 weeks.\n" + b"x" * (50 * 1024 * 1024))
    poison = [
        (b"p1", b"\x89PNG\r\n\x1a\n\x00\x00 garbage"),
        (b"p2", b'{"from": "a@b.c", "message_id": 5'),
        (b"p3", huge),
        (b"p4", b'{"schema_version": 7, "from": "a@b.c", "message_id": "x@y"}'),
    ]
    good = [(f"g{i}".encode(), inquiry(6000 + i)) for i in range(4)]
    await publish(stack, [good[0], poison[0], poison[1], good[1], poison[2], good[2], poison[3], good[3]])
    async with (
        TopicReader(stack, topics.dlq(topics.EMAILS_RAW)) as dead,
        TopicReader(stack, topics.QUOTES_GENERATED) as quotes,
    ):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while loop.time() < deadline and (len(dead.records) < 4 or len(quotes.records) < 4):
            await dead.poll()
            await quotes.poll()
    reasons = {r.key: dict(r.headers)["x-quoteflow-dlq-error-message"].decode() for r in dead.records}  # type: ignore[attr-defined]
    assert set(reasons) >= {b"p1", b"p2", b"p3", b"p4"}
    assert "binary" in reasons[b"p1"] or "not an RFC 5322" in reasons[b"p1"]
    assert "JSON" in reasons[b"p2"]
    assert "exceeds the limit" in reasons[b"p3"]
    assert "schema_version" in reasons[b"p4"]
    assert len({QuoteGenerated.model_validate_json(r.value).thread_id for r in quotes.records}) >= 4  # type: ignore[attr-defined]


async def test_redis_outage_acknowledges_nothing_without_its_effect(stack: Settings, tmp_path: Path) -> None:
    from pydantic import SecretStr

    from shared.embedded import redis_server

    # Persistence on, so the restarted server has the state written before the outage.
    (tmp_path / "redis-data").mkdir()
    redis = redis_server(tmp_path, data_dir=tmp_path / "redis-data")
    redis.start()
    redis.wait_listening_sync()
    settings = stack.model_copy(update={"redis_url": SecretStr(f"redis://127.0.0.1:{redis.port}/0")})
    services = {name: ServiceProcess(name, settings) for name in ("ingest", "extract", "quote")}
    wanted = {thread_id_for("default", f"offer-{i}@supplier{i}.example") for i in range(7000, 7040)}
    try:
        await start_all(services, tmp_path)
        async with TopicReader(stack, topics.QUOTES_GENERATED) as quotes:
            await publish(stack, [(f"o{i}".encode(), inquiry(i)) for i in range(7000, 7020)])
            redis.stop()  # the outage, while the first batch is in flight
            await publish(stack, [(f"o{i}".encode(), inquiry(i)) for i in range(7020, 7040)])
            await asyncio.sleep(3)
            redis.start()
            redis.wait_listening_sync()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120
            done: set[str] = set()
            while loop.time() < deadline and not wanted <= done:
                await quotes.poll()
                done = {QuoteGenerated.model_validate_json(r.value).thread_id for r in quotes.records}  # type: ignore[attr-defined]
        assert wanted <= done, f"{len(wanted - done)} thread(s) lost in the Redis outage"
        revisions: dict[str, set[int]] = defaultdict(set)
        for record in quotes.records:
            quote = QuoteGenerated.model_validate_json(record.value)  # type: ignore[attr-defined]
            if quote.thread_id in wanted:
                revisions[quote.thread_id].add(quote.revision)
        assert all(r == {1} for r in revisions.values())
    finally:
        for service in services.values():
            service.stop()
        redis.stop()
