"""A headerless message that names only one party (a Bcc mail to oneself) cannot tell whose thread it continues."""

from __future__ import annotations

from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository, subject_join_allowed
from shared.store import MemoryStore
from tests.services.ingest.test_threads import email, feed

SALES = "Sales <sales@ours.example>"
ACME = "Ann <ann@acme.example>"
BETA = "Bo <bo@beta.example>"


async def test_our_bcc_price_list_to_ourselves_joins_no_buyer_thread() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    acme = await feed(repository, email(1, sender=ACME, to=SALES))
    beta = await feed(repository, email(2, sender=BETA, to=SALES))
    bcc = await feed(repository, email(3, sender=SALES, to=SALES, subject="RE: 견적 요청", text="개당 7,000원입니다."))
    assert acme is not None and beta is not None and bcc is not None
    assert bcc.thread_id not in {acme.thread_id, beta.thread_id}
    assert [m.message_id for m in bcc.messages] == ["m3@test"]


def test_a_message_of_one_party_may_not_join_by_subject() -> None:
    assert not subject_join_allowed("ours.example", {"sales@ours.example"}, {"sales@ours.example", "ann@acme.example"})


def test_a_message_between_the_threads_two_parties_may_join_by_subject() -> None:
    thread = {"sales@ours.example", "ann@acme.example"}
    assert subject_join_allowed("ours.example", {"sales@ours.example", "ann@acme.example"}, thread)
