"""The review desk end to end in a real browser: Debian's Chromium driven by Playwright, over the embedded
broker and Redis with every service running (``quoteflow run``'s set-up).

Mail in → needs-review thread on the desk → sign in, see the evidence, correct the unit price, approve →
FactsCorrected on the topic (confirmed, the changed field), the trainer stores it, quote publishes a new
revision with the corrected total; another tenant's user gets 403; a form post without the CSRF token is refused.
Screenshots of the queue and the thread page are written to ``$QF_REVIEW_SCREENSHOTS`` when set (docs/).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from services import pipeline
from services.ingest.mailfiles import read_mail_files
from services.review.main import ReviewRuntime
from services.review.records import ReviewBook
from services.review.settings import ReviewSettings
from shared import topics
from shared.broker import build_broker
from shared.events import FactsCorrected, QuoteGenerated
from shared.settings import Settings
from shared.store import RedisStore
from shared.telemetry import build_telemetry
from tests.conftest import EXAMPLES
from tests.services.review.conftest import PASSWORDS, write_test_users
from tests.support.records import read_records, with_key

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"),
    pytest.mark.timeout(300),
]
async_api = pytest.importorskip("playwright.async_api")


@pytest_asyncio.fixture
async def running(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ReviewRuntime, Path]]:
    users = write_test_users(tmp_path / "review-users.yaml")
    dataset = tmp_path / "dataset"
    for name, value in {
        "QUOTEFLOW_USERS_FILE": str(users),
        "QUOTEFLOW_HTTP_PORT": "0",
        # This tenant's quotes need payment terms: the talk's thread states none, so it needs review.
        "QUOTEFLOW_REQUIRED_FIELDS": '["buyer", "supplier", "delivery", "payment_terms"]',
        "QUOTEFLOW_REVIEW_REQUIRED_FIELDS": '["buyer", "supplier", "delivery", "payment_terms"]',
        "QUOTEFLOW_DATASET_DIR": str(dataset),
        "QUOTEFLOW_ADAPTERS_DIR": str(tmp_path / "adapters"),
        "QUOTEFLOW_TRAINER_CACHE_DIR": str(tmp_path / "trainer"),
        "QUOTEFLOW_SCHEDULE_ENABLED": "false",
        "QUOTEFLOW_DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    async with pipeline.running_services(stack, pipeline.ALL_SERVICE_NAMES) as runtimes:
        desk = next(r for r in runtimes if isinstance(r, ReviewRuntime))
        yield desk, dataset


async def _publish_mail(settings: Settings, *paths: Path) -> None:
    client = settings.model_copy(update={"service_name": "test-client"})
    telemetry = build_telemetry(client)
    broker = build_broker(client, telemetry)
    await broker.connect()
    try:
        for file in read_mail_files(list(paths)):
            for raw in file.messages:
                await broker.publish(raw, topics.EMAILS_RAW, key=file.name.encode())
    finally:
        await broker.stop()
        telemetry.shutdown()


async def _wait_for(check, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_review_desk_in_chromium(stack: Settings, running: tuple[ReviewRuntime, Path], tmp_path: Path) -> None:
    desk, dataset = running
    assert desk.url is not None and desk.url.startswith("http://127.0.0.1:")
    await _publish_mail(
        stack, EXAMPLES / "talk-x-product.mbox", EXAMPLES / "valves-en.mbox", EXAMPLES / "single-inquiry.eml"
    )
    assert stack.redis_url is not None
    store = RedisStore(stack.redis_url.get_secret_value())
    book = ReviewBook(store, ReviewSettings(kafka_bootstrap="x:1"))

    async def quoted_needing_review():  # type: ignore[no-untyped-def]
        page = await book.queue(["default"], None)
        quoted = [e for e in page.entries if e.revision and e.total]
        done = [e for e in quoted if e.thread_version == 6 and e.status == "needs_review"]
        return done[0] if done and len(quoted) == 2 and page.total == 3 else None

    entry = await _wait_for(quoted_needing_review)
    thread_url = f"{desk.url}t/default/{entry.thread_id}"
    shots = tmp_path / "shots"
    shots.mkdir()

    async with async_api.async_playwright() as playwright:
        # Site isolation off: a full-page screenshot paints the sandboxed (cross-origin) quote iframe too.
        args = ["--no-sandbox", "--disable-features=IsolateOrigins,site-per-process,IsolateSandboxedIframes"]
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="ko-KR")
            page = await context.new_page()
            await page.goto(desk.url)
            assert "/login" in page.url
            await page.fill("input[name=username]", "minji")
            await page.fill("input[name=password]", PASSWORDS["minji"])
            await page.click("button[type=submit]")
            await page.wait_for_url("**/queue")
            row = page.locator("tr.status-needs_review", has_text=entry.thread_id)
            await async_api.expect(row).to_contain_text("the quote lacks payment_terms")
            await page.screenshot(path=str(shots / "review-queue.png"), full_page=True)

            await row.locator("a").first.click()
            await page.wait_for_url(f"**/t/default/{entry.thread_id}")
            price_mark = page.locator("mark.evidence[data-fields~='items.0.unit_price']")
            await async_api.expect(price_mark).to_be_visible()
            assert "9,500" in (await price_mark.inner_text()) or "9500" in (await price_mark.inner_text())
            background = await price_mark.evaluate("e => getComputedStyle(e).backgroundColor")
            assert background not in ("rgba(0, 0, 0, 0)", "transparent")
            assert await page.locator("mark.evidence").count() >= 5
            await page.click("a.ev[href='#ev-items-0-unit_price']")
            buyer_mark = page.locator("mark.evidence[data-fields~='buyer.name']")
            await async_api.expect(buyer_mark).to_contain_text("김서연")
            document = page.frame_locator("iframe.document")
            await async_api.expect(document.locator("body")).to_contain_text("견적서")
            # The whole page in one viewport: full-page captures leave the sandboxed quote frame unpainted.
            height = await page.evaluate("document.documentElement.scrollHeight")
            await page.set_viewport_size({"width": 1400, "height": height})
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(shots / "review-thread.png"))
            await page.set_viewport_size({"width": 1400, "height": 900})

            # A form post without the CSRF token: refused, nothing published.
            basis = await page.locator("form.facts-form input[name=basis]").input_value()
            refused = await page.request.post(f"{thread_url}/approve", form={"basis": basis})
            assert refused.status == 403

            await page.fill("input[name='items.0.unit_price']", "9000")
            await page.click("button[value=correct]")
            await page.wait_for_url(f"**/t/default/{entry.thread_id}")
            await async_api.expect(page.locator("h1 .pill")).to_have_text("corrected")
            audit = page.locator("section.audit")
            await async_api.expect(audit).to_contain_text("items.0.unit_price")
            await async_api.expect(audit).to_contain_text("9500")

            corrections = await read_records(
                stack, topics.FACTS_CORRECTED, lambda found: bool(found), match=with_key(entry.thread_id.encode())
            )
            correction = FactsCorrected.model_validate_json(corrections[0].value)
            assert correction.confirmed and correction.corrected_by == "minji"
            assert correction.changed_fields == ["items.0.unit_price"]
            assert correction.facts.items[0].unit_price == 9000

            corrected_hash = correction.facts.content_hash()

            def revised(found: list[object]) -> bool:
                return any(QuoteGenerated.model_validate_json(r.value).facts_hash == corrected_hash for r in found)  # type: ignore[attr-defined]

            quotes = await read_records(
                stack, topics.QUOTES_GENERATED, revised, match=with_key(entry.thread_id.encode())
            )
            revisions = sorted((QuoteGenerated.model_validate_json(r.value) for r in quotes), key=lambda q: q.revision)
            before, after = revisions[-2], revisions[-1]
            assert before.total == Decimal("1045000") and before.facts_hash != corrected_hash
            assert (after.revision, after.total) == (before.revision + 1, Decimal("990000"))
            assert after.quote_number == before.quote_number
            new_revision = f"revision {after.revision}"

            async def shown() -> bool:
                await page.reload()
                return new_revision in await page.locator("section.quote").inner_text()

            await _wait_for(shown, 30)
            await async_api.expect(page.locator("section.quote .total")).to_contain_text("990,000 KRW")

            stored = dataset / "corrections-default.jsonl"
            await _wait_for(lambda: asyncio.sleep(0, result=stored.exists()), 30)
            record = json.loads(stored.read_text(encoding="utf-8").splitlines()[-1])
            assert record["correction"]["facts"]["items"][0]["unit_price"] == 9000

            # Another tenant's user: 403 on the thread, nothing of it in the queue.
            other = await browser.new_context()
            tom = await other.new_page()
            await tom.goto(f"{desk.url}login")
            await tom.fill("input[name=username]", "tom")
            await tom.fill("input[name=password]", PASSWORDS["tom"])
            await tom.click("button[type=submit]")
            await tom.wait_for_url("**/queue")
            assert entry.thread_id not in await tom.content()
            response = await tom.goto(thread_url)
            assert response is not None and response.status == 403
            await other.close()
        finally:
            await browser.close()
            await store.close()
    for name in ("review-queue.png", "review-thread.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("QF_REVIEW_SCREENSHOTS"):
        for name in ("review-queue.png", "review-thread.png"):
            shutil.copy(shots / name, Path(target) / name)
