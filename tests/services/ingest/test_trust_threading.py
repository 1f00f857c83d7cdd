"""Trust: a subject fallback never joins different external parties into one thread, and says when it joined."""

from __future__ import annotations

from services.ingest.settings import IngestSettings
from services.ingest.threads import SUBJECT_JOIN_WARNING, ThreadRepository
from shared.store import MemoryStore
from tests.services.ingest.test_threads import email, feed

SALES = "Sales <sales@ours.example>"
ACME = "Ann <ann@acme.example>"
BETA = "Bo <bo@beta.example>"


async def test_two_buyers_with_the_same_subject_to_one_sales_address_get_two_threads() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    first = await feed(repository, email(1, sender=ACME, to=SALES, text="견적 부탁드립니다. 예산 500만원."))
    second = await feed(repository, email(2, sender=BETA, to=SALES, text="견적 부탁드립니다. 200개."))
    assert first is not None and second is not None
    assert first.thread_id != second.thread_id
    assert [m.message_id for m in second.messages] == ["m2@test"]


async def test_english_rfq_from_two_companies_stays_apart() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    subject = "Request for quotation"
    first = await feed(repository, email(1, sender=ACME, to=SALES, subject=subject, text="Please quote 10 pcs."))
    second = await feed(repository, email(2, sender=BETA, to=SALES, subject=subject, text="Please quote 20 pcs."))
    assert first is not None and second is not None
    assert first.thread_id != second.thread_id


async def test_our_headerless_reply_joins_the_thread_of_the_buyer_it_is_addressed_to() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    acme = await feed(repository, email(1, sender=ACME, to=SALES))
    beta = await feed(repository, email(2, sender=BETA, to=SALES))
    reply = await feed(repository, email(3, sender=SALES, to=BETA, subject="RE: 견적 요청", text="개당 9,000원입니다."))
    assert acme is not None and beta is not None and reply is not None
    assert reply.thread_id == beta.thread_id
    assert [m.message_id for m in reply.messages] == ["m2@test", "m3@test"]
    assert reply.messages[-1].warnings == [SUBJECT_JOIN_WARNING]


async def test_a_new_external_party_on_a_headerless_message_starts_its_own_thread() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    first = await feed(repository, email(1, sender=ACME, to=SALES))
    forwarded_to_stranger = await feed(repository, email(2, sender=SALES, to=BETA, subject="RE: 견적 요청"))
    assert first is not None and forwarded_to_stranger is not None
    assert forwarded_to_stranger.thread_id != first.thread_id


async def test_a_join_by_reply_headers_carries_no_subject_warning() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    await feed(repository, email(1, sender=ACME, to=SALES))
    reply = await feed(repository, email(2, sender=SALES, to=ACME, subject="RE: 견적 요청", refs=(1,)))
    assert reply is not None and reply.version == 2
    assert reply.messages[-1].warnings == []
