"""Trust: only the same message is a duplicate (same Message-ID, or the same raw bytes), claimed per tenant."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.normalize import IncomingEmail, normalize_event, normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import MessageBusy, ThreadRepository
from shared.events import EmailEvent, NormalizedThread
from shared.store import MemoryStore, RedisStore
from tests.services.ingest.test_threads import email, feed


def _raw_without_id(subject: str, to: str = "sales@daeyang-parts.com") -> bytes:
    return (
        f"From: Kim <kim@hanbit-trading.co.kr>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Please send your best price for 100 valves.\r\n"
    ).encode()


async def test_a_different_mail_with_the_same_body_and_date_is_not_a_duplicate() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    await feed(repository, email(1, hour=0))
    other = email(2, hour=0, subject="다른 견적 요청", to="Lee <lee@third.example>")
    assert other.message.text == email(1, hour=0).message.text
    assert await repository.duplicate_reason(other) is None
    thread = await feed(repository, other)
    assert thread is not None and [m.message_id for m in thread.messages] == ["m2@test"]


async def test_mails_without_message_id_and_date_with_the_same_body_do_not_collide() -> None:
    settings = IngestSettings()
    first = normalize_raw(_raw_without_id("Valves"), settings)
    second = normalize_raw(_raw_without_id("Pumps", to="buy@other.example"), settings)
    assert first.message.message_id != second.message.message_id
    repository = ThreadRepository(MemoryStore(), settings)
    await feed(repository, first)
    assert await repository.duplicate_reason(second) is None


async def test_the_same_raw_bytes_again_are_a_duplicate_by_their_id() -> None:
    settings = IngestSettings()
    repository = ThreadRepository(MemoryStore(), settings)
    await feed(repository, normalize_raw(_raw_without_id("Valves"), settings))
    again = normalize_raw(_raw_without_id("Valves"), settings)
    assert await repository.duplicate_reason(again) == "message_id"


async def test_the_same_message_id_is_a_duplicate_and_the_same_bytes_under_another_id_too() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    original = email(1)
    await feed(repository, original)
    assert await repository.duplicate_reason(email(1, text="edited body")) == "message_id"
    renamed = original.message.model_copy(update={"message_id": "renamed@test"})
    original.message = renamed
    assert await repository.duplicate_reason(original) == "raw_bytes"


def test_content_hash_is_of_the_raw_bytes_not_of_the_text() -> None:
    settings = IngestSettings()
    a = normalize_raw(_raw_without_id("Valves"), settings)
    b = normalize_raw(_raw_without_id("Pumps"), settings)
    assert a.message.text == b.message.text
    assert a.message.content_hash != b.message.content_hash
    event = {"from": "kim@hanbit-trading.co.kr", "message_id": "<e1@x>", "text": "same", "subject": "A"}
    one = normalize_event(EmailEvent.model_validate(event), settings)
    two = normalize_event(EmailEvent.model_validate({**event, "subject": "B"}), settings)
    assert one.message.content_hash != two.message.content_hash
    assert one.message.content_hash == normalize_event(EmailEvent.model_validate(event), settings).message.content_hash


async def test_a_copy_on_another_partition_cannot_pass_while_the_first_is_in_flight() -> None:
    """Two copies of one message whose headers lead to different thread locks still meet on the message claim."""
    store = MemoryStore()
    first_worker = ThreadRepository(store, IngestSettings())
    second_worker = ThreadRepository(store, IngestSettings(), lock_wait_s=0.05)
    with_references = email(5, refs=(1,))
    without_references = email(5)
    assert await first_worker.find_thread_id(with_references) != await second_worker.find_thread_id(without_references)

    async with first_worker.locked(with_references) as held:
        assert await first_worker.duplicate_reason(with_references, held.state) is None
        thread = await first_worker.assemble(with_references, held.thread_id, held.state)
        with pytest.raises(MessageBusy):
            async with second_worker.locked(without_references):
                pass
        await first_worker.commit(with_references, thread, held.state)

    async with second_worker.locked(without_references) as held:
        assert await second_worker.duplicate_reason(without_references, held.state) == "message_id"


async def test_a_failure_before_commit_frees_the_claim_and_marks_nothing() -> None:
    store = MemoryStore()
    repository = ThreadRepository(store, IngestSettings(), lock_wait_s=0.05)
    incoming = email(1)
    with pytest.raises(RuntimeError):
        async with repository.locked(incoming) as held:
            await repository.assemble(incoming, held.thread_id, held.state)
            raise RuntimeError("publish failed")
    async with repository.locked(incoming) as held:
        assert await repository.duplicate_reason(incoming, held.state) is None
    assert await asyncio.wait_for(repository.duplicate_reason(incoming), 1) is None


async def _handle(repository: ThreadRepository, incoming: IncomingEmail, published: list[NormalizedThread]) -> None:
    """The handler's sequence (services/ingest/handlers.py), the publish a list append after a yield."""
    async with repository.locked(incoming) as held:
        if await repository.duplicate_reason(incoming, held.state) is not None:
            return
        thread = await repository.assemble(incoming, held.thread_id, held.state)
        await asyncio.sleep(0.02)
        published.append(thread)
        await repository.commit(incoming, thread, held.state)


@pytest.mark.integration
async def test_two_workers_on_redis_publish_two_copies_of_one_message_once(redis_only: str) -> None:
    stores = [RedisStore(redis_only), RedisStore(redis_only)]
    try:
        workers = [ThreadRepository(store, IngestSettings()) for store in stores]
        copies = [email(7, refs=(3,)), email(7)]
        for copy in copies:
            copy.tenant = "copies-on-two-partitions"
        published: list[NormalizedThread] = []
        await asyncio.gather(*(_handle(w, c, published) for w, c in zip(workers, copies, strict=True)))
        assert [[m.message_id for m in t.messages] for t in published] == [["m7@test"]]
    finally:
        for store in stores:
            await store.close()
