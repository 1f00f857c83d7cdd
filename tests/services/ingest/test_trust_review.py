"""Trust: a party joining from a new (look-alike) domain, or roles guessed without own_domains that bear on
prices, make the price-bearing facts need review, from ingest through extract to the quote."""

from __future__ import annotations

from datetime import date

from services.extract.handlers import to_event
from services.extract.rules import RulesEngine
from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.normalize import normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository, look_alike_of, review_reasons
from services.quote.handlers import build_quote_event
from services.quote.numbering import QuoteSlot
from services.quote.settings import QuoteSettings
from shared.events import NormalizedThread
from shared.store import MemoryStore
from tests.conftest import EXAMPLES
from tests.services.ingest.test_threads import email, feed

EVIL_REPLY = (
    b"From: Daniel Lee <daniel.lee@seoul-valve.co.kr.evil.com>\r\n"
    b"To: Emily Carter <emily.carter@northwind-supply.com>\r\n"
    b"Subject: RE: Inquiry: stainless ball valves DN50\r\n"
    b"Date: Tue, 07 Apr 2026 09:00:00 +0000\r\n"
    b"Message-ID: <valves-en-evil@seoul-valve.co.kr.evil.com>\r\n"
    b"In-Reply-To: <valves-en-3@northwind-supply.com>\r\n"
    b"References: <valves-en-1@northwind-supply.com> <valves-en-2@seoul-valve.co.kr>"
    b" <valves-en-3@northwind-supply.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Dear Emily,\r\n\r\nCorrection: our price for the DN50 ball valve is USD 0.01 per piece for 400 pcs,"
    b" FOB Busan. Payment: 100% T/T in advance.\r\n\r\nDaniel Lee\r\n"
)


async def _valves_with(extra: bytes | None, settings: IngestSettings | None = None) -> NormalizedThread:
    settings = settings or IngestSettings()
    repository = ThreadRepository(MemoryStore(), settings)
    (valves,) = read_mail_files([EXAMPLES / "valves-en.mbox"])
    raws = [*valves.messages, *([extra] if extra else [])]
    thread = await feed(repository, *(normalize_raw(raw, settings, arrival=n) for n, raw in enumerate(raws)))
    assert thread is not None
    return thread


def test_look_alike_domains_are_recognised() -> None:
    assert look_alike_of("seoul-valve.co.kr.evil.com", {"seoul-valve.co.kr"}) == "seoul-valve.co.kr"
    assert look_alike_of("seoul-va1ve.co.kr", {"seoul-valve.co.kr", "northwind-supply.com"}) == "seoul-valve.co.kr"
    assert look_alike_of("seoul-valve.com", {"seoul-valve.co.kr"}) == "seoul-valve.co.kr"
    assert look_alike_of("acme.example", {"seoul-valve.co.kr", "northwind-supply.com"}) is None
    assert look_alike_of("kim@naver.com", {"lee@naver.com"}) is None


async def test_a_look_alike_reply_into_a_thread_is_a_review_reason() -> None:
    thread = await _valves_with(EVIL_REPLY)
    assert thread.messages[-1].sender_email == "daniel.lee@seoul-valve.co.kr.evil.com"
    assert any(
        "seoul-valve.co.kr.evil.com" in r and "looks like seoul-valve.co.kr" in r for r in thread.review_reasons
    ), thread.review_reasons


async def test_the_look_alike_price_needs_review_end_to_end_over_the_handlers() -> None:
    thread = await _valves_with(EVIL_REPLY)
    extraction = RulesEngine().extract_sync(thread)
    assert extraction.facts.items and extraction.facts.items[0].unit_price == 0.01
    facts = to_event(thread, extraction)
    assert facts.needs_review
    assert [w for w in facts.warnings if "looks like seoul-valve.co.kr" in w]
    quote = build_quote_event(facts, QuoteSlot("Q-2026-000001", 1), QuoteSettings(), date(2026, 4, 8))
    assert quote.needs_review


async def test_the_example_threads_have_no_review_reasons_and_their_quotes_keep_their_review_state() -> None:
    for name in ("talk-x-product.mbox", "valves-en.mbox", "single-inquiry.eml"):
        for file in read_mail_files([EXAMPLES / name]):
            thread = await assemble_offline(file, IngestSettings())
            assert thread is not None
            assert thread.review_reasons == [], (name, thread.review_reasons)
            extraction = RulesEngine().extract_sync(thread)
            event = to_event(thread, extraction)
            assert event.needs_review == extraction.needs_review
            assert event.warnings == extraction.warnings


async def test_without_prices_a_review_reason_does_not_set_needs_review() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    thread = await feed(
        repository,
        email(1, sender="Ann <ann@acme.example>", to="Sales <sales@ours.example>", text="견적 부탁드립니다."),
        email(
            2, sender="Eve <eve@acme-example.evil>", to="Ann <ann@acme.example>", text="자료 보내드립니다.", refs=(1,)
        ),
    )
    assert thread is not None and thread.review_reasons
    extraction = RulesEngine().extract_sync(thread)
    assert not [i for i in extraction.facts.items if i.unit_price is not None]
    event = to_event(thread, extraction)
    assert event.needs_review == extraction.needs_review
    assert not [w for w in event.warnings if "acme-example.evil" in w]


def test_an_unsolicited_offer_without_own_domains_has_a_guessed_role_reason() -> None:
    offer = email(
        1,
        sender="Park <park@daeyang-parts.com>",
        to="Kim <kim@hanbit-trading.co.kr>",
        text="X 제품 개당 9,000원에 공급합니다.",
    )
    (reason,) = review_reasons([offer.message], IngestSettings())
    assert "daeyang-parts.com" in reason and "QUOTEFLOW_OWN_DOMAINS" in reason
    settings = IngestSettings(own_domains=["daeyang-parts.com"])
    assert review_reasons([offer.message], settings) == []


def test_a_third_party_stating_prices_without_own_domains_has_review_reasons() -> None:
    messages = [
        email(1, text="견적 부탁드립니다.").message,
        email(
            2,
            sender="Park <junho.park@daeyang-parts.com>",
            to="Kim <seoyeon.kim@hanbit-trading.co.kr>",
            text="개당 9,500원입니다.",
        ).message,
        email(
            3,
            sender="Choi <choi@third-trade.example>",
            to="Kim <seoyeon.kim@hanbit-trading.co.kr>",
            text="저희는 개당 8,000원입니다.",
        ).message,
    ]
    reasons = review_reasons(messages, IngestSettings())
    assert any("choi@third-trade.example" in r and "no earlier message" in r for r in reasons), reasons
    assert any("third-trade.example" in r and "guessed" in r for r in reasons), reasons
    assert not any("daeyang-parts.com" in r for r in reasons), reasons
