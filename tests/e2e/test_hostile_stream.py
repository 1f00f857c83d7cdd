"""A hostile mixed stream through the real services (processes on the embedded broker and Redis).

Valid threads, every kind of poison, records with non-UTF-8 headers, duplicates, messages
out of order, two buyers with one subject and tenants with odd names, all in one stream:
each valid thread gets its final quote with contiguous revisions (no more than its versions),
each poison record exactly one dead letter with a reason, and nothing is lost. A second test kills services with SIGKILL
in the middle of a stream of multi-message threads: no thread ends without its final quote
and no revision goes back to older facts.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from services.ingest.threads import thread_id_for
from services.pipeline import ServiceProcess
from shared import topics
from shared.broker import ensure_topics
from shared.consumer import TENANT_HEADER
from shared.events import QuoteGenerated
from shared.settings import Settings
from tests.conftest import running_stack
from tests.integration.test_fault_tolerance import TopicReader, start_all

pytestmark = pytest.mark.e2e

DOMAIN = "hostile.example"
FIRST_PRICE, FINAL_PRICE = Decimal("20.50"), Decimal("18.25")
MAX_EMAIL_BYTES = 200_000

Headers = list[tuple[str, bytes]]


def mail(
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    *,
    refs: tuple[str, ...] = (),
    date: datetime | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    if date is not None:
        message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{message_id}>"
    if refs:
        message["In-Reply-To"] = f"<{refs[-1]}>"
        message["References"] = " ".join(f"<{r}>" for r in refs)
    message.set_content(body)
    return message.as_bytes()


def negotiation(index: int, prefix: str = "t") -> list[bytes]:
    """Inquiry → offer at FIRST_PRICE → lower offer at FINAL_PRICE: three versions, three revisions."""
    quantity = 100 + index
    start = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(hours=index)
    ids = [f"{prefix}{index}-m{n}@{DOMAIN}" for n in range(3)]
    buyer, supplier = f"Buyer {index} <buyer{index}@client{index}.example>", f"Sales <sales@vendor{index}.example>"
    subject = f"RFQ {prefix}{index}: ball valves"
    return [
        mail(
            buyer,
            f"sales@vendor{index}.example",
            subject,
            f"Hello,\nplease quote {quantity} pcs of DN50 ball valves, delivery to Busan.\nThanks",
            ids[0],
            date=start,
        ),
        mail(
            supplier,
            f"buyer{index}@client{index}.example",
            f"RE: {subject}",
            f"Dear buyer,\nour price is USD {FIRST_PRICE} per piece for {quantity} pcs, lead time 3 weeks, "
            "payment T/T 30 days.",
            ids[1],
            refs=(ids[0],),
            date=start + timedelta(minutes=10),
        ),
        mail(
            supplier,
            f"buyer{index}@client{index}.example",
            f"RE: {subject}",
            f"Dear buyer,\nwe can offer the DN50 ball valves at USD {FINAL_PRICE} per piece instead.",
            ids[2],
            refs=(ids[0], ids[1]),
            date=start + timedelta(minutes=20),
        ),
    ]


def final_total(index: int) -> Decimal:
    return (100 + index) * FINAL_PRICE


@dataclass
class Stream:
    """What is sent, and what each valid thread and each poison record must come to."""

    records: list[tuple[bytes, bytes, Headers]] = field(default_factory=list)
    revisions: dict[str, int | None] = field(default_factory=dict)
    """thread id → exact number of revisions expected (None: one to three, contiguous)."""
    totals: dict[str, Decimal | None] = field(default_factory=dict)
    """thread id → total of its final quote (None: no priced lines)."""
    poison: dict[bytes, str] = field(default_factory=dict)
    """key → a word its dead letter's reason must contain."""

    def send(self, key: str, value: bytes, headers: Headers | None = None) -> None:
        self.records.append((key.encode(), value, headers or []))


def hostile_stream() -> Stream:
    stream = Stream()
    # Ten negotiations in order: revisions 1, 2, 3 at most — extract skips a version superseded by a newer
    # one in the same fetched batch (services/extract/burst.py), so the count depends on batching; the
    # final total (stream.totals) must be right either way.
    for i in range(10):
        for raw in negotiation(i):
            stream.send(f"thread-{i}", raw)
        stream.revisions[thread_id_for("default", f"t{i}-m0@{DOMAIN}")] = None
        stream.totals[thread_id_for("default", f"t{i}-m0@{DOMAIN}")] = final_total(i)
    # Duplicates: the same bytes again (another key, so another partition and time) add nothing.
    stream.send("dup-a", negotiation(0)[1])
    stream.send("dup-b", negotiation(3)[2])
    # Out of order: the last reply first, the inquiry last, each on its own key.
    for i in (20, 21):
        first, second, third = negotiation(i)
        stream.send(f"ooo-{i}-c", third)
        stream.send(f"ooo-{i}-b", second)
        stream.send(f"ooo-{i}-a", first)
        stream.revisions[thread_id_for("default", f"t{i}-m0@{DOMAIN}")] = None
        stream.totals[thread_id_for("default", f"t{i}-m0@{DOMAIN}")] = final_total(i)
    # The same body from the same sender, no Date, other subjects: two mails, two quotes.
    body = "Our price is USD 9.90 per piece for 500 pcs of hex bolts M8, lead time 2 weeks."
    for n in (1, 2):
        stream.send(
            f"same-body-{n}",
            mail("Sales <sales@boltco.example>", "buyer@shop.example", f"Offer {n}: bolts", body, f"sb{n}@{DOMAIN}"),
        )
        stream.revisions[thread_id_for("default", f"sb{n}@{DOMAIN}")] = 1
        stream.totals[thread_id_for("default", f"sb{n}@{DOMAIN}")] = Decimal("4950.00")
    # Two buyers of different companies, one subject, one sales@ address: two threads.
    for n, company in ((1, "alpha-corp"), (2, "beta-inc")):
        stream.send(
            f"two-buyers-{n}",
            mail(
                f"Buyer <buyer@{company}.example>",
                "sales@ourco.example",
                "견적 요청",
                f"안녕하세요. 볼밸브 DN{40 + n * 10} {n * 100}개 견적 부탁드립니다.",
                f"tb{n}@{DOMAIN}",
                date=datetime(2026, 6, 1, 9, n, tzinfo=UTC),
            ),
        )
        stream.revisions[thread_id_for("default", f"tb{n}@{DOMAIN}")] = 1
        stream.totals[thread_id_for("default", f"tb{n}@{DOMAIN}")] = None
    # Tenants with odd but valid names: quoted within their tenant.
    for tenant in ("acme-col", "north_2"):
        raw = negotiation(30, prefix=tenant.replace("_", "-"))
        for part in raw:
            stream.send(f"tenant-{tenant}", part, [(TENANT_HEADER, tenant.encode())])
        thread = thread_id_for(tenant, f"{tenant.replace('_', '-')}30-m0@{DOMAIN}")
        stream.revisions[thread] = None  # as the negotiations above
        stream.totals[thread] = final_total(30)
    # Poison of every kind, between the good records.
    good = negotiation(40)[0]
    poison: list[tuple[str, bytes, Headers, str]] = [
        ("p-binary", b"\x89PNG\r\n\x1a\n\x00\x00 garbage", [], "binary"),
        ("p-json", b'{"from": "a@b.c", "message_id": 5', [], "JSON"),
        ("p-schema", b'{"schema_version": 7, "from": "a@b.c", "message_id": "x@y"}', [], "schema_version"),
        ("p-array", b"[1, 2, 3]", [], "RFC 5322"),
        ("p-empty", b"", [], "empty"),
        ("p-huge", good + b"x" * (MAX_EMAIL_BYTES + 1), [], "exceeds the limit"),
        ("p-header", negotiation(41)[0], [("x-note", b"\xfe\xff")], "UTF-8"),
        ("p-tenant-colon", negotiation(42)[0], [(TENANT_HEADER, b"acme:col")], "tenant"),
        ("p-tenant-dots", negotiation(43)[0], [(TENANT_HEADER, b"..")], "tenant"),
        ("p-tenant-hangul", negotiation(44)[0], [(TENANT_HEADER, "한빛무역".encode())], "tenant"),
    ]
    mixed: list[tuple[bytes, bytes, Headers]] = []
    for n, (key, value, headers, reason) in enumerate(poison):
        stream.poison[key.encode()] = reason
        mixed.append((key.encode(), value, headers))
        if n < len(stream.records):
            mixed.append(stream.records[n * 3])
    taken = {id(r) for r in mixed}
    stream.records = mixed + [r for r in stream.records if id(r) not in taken]
    return stream


async def send(settings: Settings, records: list[tuple[bytes, bytes, Headers]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=settings.kafka_max_message_bytes
    )
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topics.EMAILS_RAW, value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A broker and Redis of this test's own: each test counts every record on its topics."""
    yield from running_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture
def services(stack: Settings) -> Iterator[dict[str, ServiceProcess]]:
    asyncio.run(ensure_topics(stack, topics.ALL_TOPICS))
    env = {"QUOTEFLOW_MAX_EMAIL_BYTES": str(MAX_EMAIL_BYTES)}
    started = {name: ServiceProcess(name, stack, env=env) for name in ("ingest", "extract", "quote")}
    try:
        yield started
    finally:
        for process in started.values():
            process.stop()


def quotes_by_thread(records: list[object]) -> dict[str, list[QuoteGenerated]]:
    found: dict[str, list[QuoteGenerated]] = defaultdict(list)
    for record in records:
        quote = QuoteGenerated.model_validate_json(record.value)  # type: ignore[attr-defined]
        found[quote.thread_id].append(quote)
    return found


def settled(quotes: dict[str, list[QuoteGenerated]], totals: dict[str, Decimal | None]) -> bool:
    """Every expected thread has a quote with its final total."""
    return all(t in quotes and quotes[t][-1].total == total for t, total in totals.items())


async def test_hostile_stream_quotes_every_valid_thread_and_dead_letters_every_poison(
    stack: Settings, services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    stream = hostile_stream()
    await start_all(services, tmp_path)
    await send(stack, stream.records)
    async with (
        TopicReader(stack, topics.QUOTES_GENERATED) as quote_reader,
        TopicReader(stack, topics.dlq(topics.EMAILS_RAW)) as dead,
    ):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while loop.time() < deadline:
            await quote_reader.poll()
            await dead.poll()
            if settled(quotes_by_thread(quote_reader.records), stream.totals) and len(dead.records) >= len(
                stream.poison
            ):
                break
        for _ in range(15):  # late duplicates or extra revisions would show up now
            await quote_reader.poll()
            await dead.poll()
    quotes = quotes_by_thread(quote_reader.records)
    letters: dict[bytes, list[str]] = defaultdict(list)
    for record in dead.records:
        letters[record.key].append(dict(record.headers)["x-quoteflow-dlq-error-message"].decode())  # type: ignore[attr-defined]
    lost = sorted(t for t, total in stream.totals.items() if t not in quotes or quotes[t][-1].total != total)
    summary = {
        "sent": len(stream.records),
        "valid_threads": len(stream.totals),
        "quoted": len(stream.totals) - len(lost),
        "dead_lettered": sum(len(v) for v in letters.values()),
        "lost": len(lost) + sum(1 for key in stream.poison if key not in letters),
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    print("hostile stream:", json.dumps(summary))
    assert lost == [], f"threads without their final quote: {lost}"
    for thread_id, expected in stream.revisions.items():
        revisions = sorted({q.revision for q in quotes[thread_id]})
        assert revisions == list(range(1, len(revisions) + 1)), f"{thread_id}: gaps in revisions {revisions}"
        if expected is not None:
            assert len(revisions) == expected, f"{thread_id}: revisions {revisions}, expected {expected}"
        assert len(revisions) <= 3, f"{thread_id}: more revisions than versions: {revisions}"
        assert len({q.quote_number for q in quotes[thread_id]}) == 1
    assert set(quotes) == set(stream.totals), f"unexpected threads: {set(quotes) - set(stream.totals)}"
    for tenant in ("acme-col", "north_2"):
        assert any(q.tenant == tenant for qs in quotes.values() for q in qs)
    assert {key: len(reasons) for key, reasons in letters.items()} == dict.fromkeys(stream.poison, 1)
    for key, word in stream.poison.items():
        assert word.lower() in letters[key][0].lower(), f"{key!r}: reason {letters[key][0]!r} lacks {word!r}"
    assert summary["lost"] == 0


async def test_sigkill_mid_stream_never_loses_a_thread_or_goes_back_to_older_facts(
    stack: Settings, services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    count = 60
    totals = {thread_id_for("default", f"k{i}-m0@{DOMAIN}"): final_total(i) for i in range(count)}
    await start_all(services, tmp_path)
    # Interleaved: the first messages of all threads, then the second ones, then the third ones.
    threads = [negotiation(i, prefix="k") for i in range(count)]
    await send(stack, [(f"k{i}".encode(), threads[i][n], []) for n in range(3) for i in range(count)])
    killed: list[str] = []
    async with TopicReader(stack, topics.QUOTES_GENERATED) as reader:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 300
        while loop.time() < deadline:
            await reader.poll()
            quotes = quotes_by_thread(reader.records)
            for victim, at in (("extract", 20), ("quote", 50), ("ingest", 90)):
                if len(reader.records) >= at and victim not in killed:
                    services[victim].signal(signal.SIGKILL)
                    services[victim].wait()
                    killed.append(victim)
                    services[victim].start(tmp_path / f"{victim}-restarted.log")
                    await services[victim].wait_ready()
            if len(killed) == 3 and settled(quotes, totals):
                break
        for _ in range(15):
            await reader.poll()
    assert killed == ["extract", "quote", "ingest"]
    quotes = quotes_by_thread(reader.records)
    lost = [t for t, total in totals.items() if t not in quotes or quotes[t][-1].total != total]
    redelivered = sum(len(q) for q in quotes.values()) - sum(len({x.revision for x in q}) for q in quotes.values())
    print(
        f"sigkill stream: sent {3 * count}, threads {count}, quoted {count - len(lost)}, lost {len(lost)}, "
        f"quote records {len(reader.records)} ({redelivered} republished after a kill)"
    )
    assert lost == [], f"{len(lost)} of {count} threads without their final quote"
    for thread_id, sequence in quotes.items():
        revisions = [q.revision for q in sequence]
        assert revisions == sorted(revisions), f"{thread_id}: revisions went back: {revisions}"
        by_revision: dict[int, set[Decimal | None]] = defaultdict(set)
        for quote in sequence:
            by_revision[quote.revision].add(quote.total)
        assert all(len(t) == 1 for t in by_revision.values()), f"{thread_id}: one revision, two documents"
        priced = [q.total for q in sequence if q.total is not None]
        # Once the final price was quoted, no later revision goes back to the first offer.
        if totals[thread_id] in priced:
            assert all(t == totals[thread_id] for t in priced[priced.index(totals[thread_id]) :]), (
                f"{thread_id}: {[(q.revision, q.total) for q in sequence]}"
            )
