"""Two extract workers in one consumer group share the partitions and together handle every thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.ingest.mailfiles import MailFile, assemble_offline
from services.ingest.settings import IngestSettings
from services.pipeline import build_named_service
from shared import topics
from shared.broker import ensure_topics
from shared.events import FactsExtracted
from shared.settings import Settings
from tests.integration.test_fault_tolerance import inquiry

pytestmark = pytest.mark.integration


async def test_two_workers_split_partitions_and_lose_nothing(stack: Settings) -> None:
    await ensure_topics(stack, topics.ALL_TOPICS)
    workers = [build_named_service("extract", stack) for _ in range(2)]
    await asyncio.gather(*(w.start() for w in workers))
    try:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
        await producer.start()
        wanted = set()
        for index in range(60):
            thread = await assemble_offline(MailFile(Path(f"{index}.eml"), [inquiry(index)]), IngestSettings())
            assert thread is not None
            wanted.add(thread.thread_id)
            await producer.send(
                topics.THREADS_NORMALIZED, thread.model_dump_json().encode(), key=thread.thread_id.encode()
            )
        await producer.stop()
        consumer = AIOKafkaConsumer(
            topics.FACTS_EXTRACTED, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        done: set[str] = set()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while loop.time() < deadline and not wanted <= done:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    done.update(FactsExtracted.model_validate_json(r.value).thread_id for r in records)
        finally:
            await consumer.stop()
        assert wanted <= done
        assignments = [
            {tp.partition for sub in w.broker.subscribers if sub.consumer for tp in sub.consumer.assignment()}
            for w in workers
        ]
        threads_topic = [a for a in assignments if a]
        assert len(threads_topic) == 2, f"both workers must own partitions: {assignments}"
        assert not (assignments[0] & assignments[1])
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
