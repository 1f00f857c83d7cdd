"""Threading (ids, then subject + participants), order, roles, de-duplication and caps, on the in-memory store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.normalize import IncomingEmail, normalize_event
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository, assign_roles, is_offer, party_of
from shared.events import EmailEvent, NormalizedThread
from shared.store import MemoryStore
from tests.conftest import EXAMPLES
from tests.services.ingest.conftest import fixture_path, load

BUYER = "Kim <seoyeon.kim@hanbit-trading.co.kr>"
SUPPLIER = "Park <junho.park@daeyang-parts.com>"


def email(
    number: int,
    *,
    sender: str = BUYER,
    to: str = SUPPLIER,
    text: str = "견적 부탁드립니다.",
    subject: str = "견적 요청",
    refs: tuple[int, ...] = (),
    hour: int | None = None,
    settings: IngestSettings | None = None,
    arrival: int = 0,
) -> IncomingEmail:
    event = EmailEvent.model_validate(
        {
            "from": sender,
            "to": [to],
            "subject": subject,
            "message_id": f"<m{number}@test>",
            "references": [f"<m{r}@test>" for r in refs],
            "in_reply_to": f"<m{refs[-1]}@test>" if refs else None,
            "date": (datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=hour if hour is not None else number)),
            "text": text,
        }
    )
    return normalize_event(event, settings or IngestSettings(), arrival=arrival)


async def feed(repository: ThreadRepository, *messages: IncomingEmail) -> NormalizedThread | None:
    thread = None
    for incoming in messages:
        if await repository.is_duplicate(incoming):
            continue
        thread = await repository.assemble(incoming)
        await repository.commit(incoming, thread)
    return thread


@pytest.fixture
def repository() -> ThreadRepository:
    return ThreadRepository(MemoryStore(), IngestSettings())


async def test_references_thread_and_roles(repository: ThreadRepository) -> None:
    thread = await feed(
        repository,
        email(1),
        email(2, sender=SUPPLIER, to=BUYER, text="개당 10,000원입니다.", subject="RE: 견적 요청", refs=(1,)),
        email(3, text="9,000원 가능할까요?", subject="RE: 견적 요청", refs=(1, 2)),
    )
    assert thread is not None
    assert thread.version == 3
    assert thread.subject == "견적 요청"
    assert [m.message_id for m in thread.messages] == ["m1@test", "m2@test", "m3@test"]
    assert [m.role for m in thread.messages] == ["buyer", "supplier", "buyer"]
    assert thread.language == "ko"


async def test_every_arrival_order_gives_the_same_conversation() -> None:
    paths = sorted(fixture_path("thread_out_of_order").glob("*.eml"))
    raws = [p.read_bytes() for p in paths]
    expected = ["ooo-1@example.test", "ooo-2@example.test", "ooo-3@example.test", "ooo-4@example.test"]
    thread_ids = set()
    from services.ingest.normalize import normalize_raw

    for order in itertools.permutations(range(len(raws))):
        repository = ThreadRepository(MemoryStore(), IngestSettings())
        thread = await feed(
            repository, *(normalize_raw(raws[i], IngestSettings(), arrival=n) for n, i in enumerate(order))
        )
        assert thread is not None
        assert [m.message_id for m in thread.messages] == expected, order
        assert [m.role for m in thread.messages] == ["buyer", "supplier", "buyer", "supplier"], order
        assert thread.version == 4
        thread_ids.add(thread.thread_id)
    assert len(thread_ids) == 1


async def test_same_date_is_ordered_by_arrival(repository: ThreadRepository) -> None:
    thread = await feed(
        repository,
        email(1, hour=0, arrival=5),
        email(2, sender=SUPPLIER, to=BUYER, text="네", refs=(1,), hour=0, arrival=9),
    )
    assert thread is not None
    assert [m.message_id for m in thread.messages] == ["m1@test", "m2@test"]


async def test_subject_and_participants_thread_without_headers() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    threads = [await feed(repository, load(f"thread_subject_only/{n}.eml", arrival=n)) for n in (1, 2, 3)]
    assert len({t.thread_id for t in threads if t}) == 1
    last = threads[-1]
    assert last is not None and last.version == 3
    assert last.subject == "견적 요청: 스테인리스 밸브"


async def test_same_subject_with_other_people_is_another_thread(repository: ThreadRepository) -> None:
    first = await feed(repository, email(1))
    other = await feed(repository, email(2, sender="Lee <lee@other.example>", to="sales@third.example"))
    assert first is not None and other is not None
    assert first.thread_id != other.thread_id


async def test_duplicates_by_id_and_by_hash(repository: ThreadRepository) -> None:
    original = email(1)
    await feed(repository, original)
    assert await repository.is_duplicate(email(1))
    resent = original.message.model_copy(update={"message_id": "other-id@test"})
    assert await repository.is_duplicate(IncomingEmail(tenant="default", message=resent))
    assert not await repository.is_duplicate(email(2))


async def test_assemble_alone_marks_nothing(repository: ThreadRepository) -> None:
    """A crash between assemble and commit must re-process the message, never lose it."""
    incoming = email(1)
    await repository.assemble(incoming)
    assert not await repository.is_duplicate(incoming)
    thread = await repository.assemble(incoming)
    await repository.commit(incoming, thread)
    assert await repository.is_duplicate(incoming)
    assert thread.version == 1


async def test_cap_on_messages_per_thread() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings(max_messages_per_thread=3))
    messages = [email(1)] + [
        email(n, text=f"메시지 {n}", subject="RE: 견적 요청", refs=tuple(range(1, n))) for n in range(2, 7)
    ]
    thread = await feed(repository, *messages)
    assert thread is not None
    assert [m.message_id for m in thread.messages] == ["m4@test", "m5@test", "m6@test"]
    assert thread.version == 6


async def test_tenants_are_separate() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    a = email(1)
    b = email(1)
    b.tenant = "other"
    await feed(repository, a)
    assert not await repository.is_duplicate(b)


# --------------------------------------------------------------------------- roles


def test_own_domains_decide_the_sides() -> None:
    settings = IngestSettings(own_domains=["hanbit-trading.co.kr"], own_role="buyer")
    messages = [
        email(1, sender=SUPPLIER, to=BUYER, text="신제품 소개드립니다. 개당 9,000원.", settings=settings).message,
        email(2, text="견적 부탁드립니다.", settings=settings).message,
    ]
    assert [m.role for m in assign_roles(messages, settings)] == ["supplier", "buyer"]
    settings = IngestSettings(own_domains=["daeyang-parts.com"])
    assert [m.role for m in assign_roles(messages, settings)] == ["supplier", "buyer"]


def test_first_offer_makes_its_sender_the_supplier() -> None:
    messages = [
        email(1, sender=SUPPLIER, to=BUYER, text="신제품 X를 개당 9,000원에 공급합니다.").message,
        email(2, text="100개 주문하면 얼마인가요?").message,
    ]
    assert [m.role for m in assign_roles(messages)] == ["supplier", "buyer"]


def test_colleagues_share_their_company_side() -> None:
    messages = [
        email(1).message,
        email(2, sender=SUPPLIER, to=BUYER, text="9,000원입니다.").message,
        email(3, sender="Lee <younghee.lee@daeyang-parts.com>", to=BUYER, text="추가로 안내드립니다.").message,
        email(4, sender="Choi <choi@hanbit-trading.co.kr>", to=SUPPLIER, text="확인했습니다.").message,
    ]
    assert [m.role for m in assign_roles(messages)] == ["buyer", "supplier", "supplier", "buyer"]


def test_forwarded_messages_get_roles_of_their_party() -> None:
    forward = load("forward_gmail_ko.eml").message
    reply = email(9, sender=SUPPLIER, to=BUYER, text="개당 9,000원입니다.", refs=(1,)).message
    inquiry = email(1).message
    roles = assign_roles([inquiry, forward, reply])
    assert roles[1].forwarded[0].role == "buyer"


def test_party_and_offer_helpers() -> None:
    assert party_of("kim@naver.com") == "kim@naver.com"
    assert party_of("Kim@Hanbit-Trading.co.kr") == "hanbit-trading.co.kr"
    assert is_offer("Our price is USD 21.80 per piece.")
    assert not is_offer("What is your price for 400 pcs?")


async def test_example_threads_offline() -> None:
    for file in read_mail_files([EXAMPLES / "talk-x-product.mbox", EXAMPLES / "valves-en.mbox"]):
        thread = await assemble_offline(file, IngestSettings())
        assert thread is not None
        assert thread.version == len(file.messages)
        assert thread.messages[0].role == "buyer"
        assert {m.role for m in thread.messages} == {"buyer", "supplier"}
        assert all(m.text and "\ufffd" not in m.text for m in thread.messages)


async def test_a_thread_keeps_its_start_and_one_started_again_after_expiry_gets_a_later_one() -> None:
    store = MemoryStore()
    repository = ThreadRepository(store, IngestSettings())
    first, reply = email(1), email(2, sender=SUPPLIER, to=BUYER, text="단가 9,500원입니다.", refs=(1,))
    thread = await repository.assemble(first)
    await repository.commit(first, thread)
    continued = await repository.assemble(reply)
    assert thread.started_at is not None and continued.started_at == thread.started_at
    await store.delete(f"thread:{thread.tenant}:{thread.thread_id}")  # the idle TTL ran out
    again = await repository.assemble(reply)
    assert again.version == 1 and again.thread_id == thread.thread_id
    assert again.started_at is not None and again.started_at > thread.started_at
