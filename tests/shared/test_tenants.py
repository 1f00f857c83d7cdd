"""One tenant-id rule everywhere: keys and folders built from tenants never collide or escape."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.settings import IngestSettings
from services.quote.numbering import QuoteBook
from services.quote.render import pdf_path
from services.quote.tenants import QuoteConfigError
from shared.events import (
    EmailEvent,
    FactsCorrected,
    FactsExtracted,
    KeyFacts,
    NormalizedThread,
    QuoteGenerated,
)
from shared.settings import Settings
from shared.store import MemoryStore
from shared.tenants import (
    InvalidTenantError,
    UnsafeNameError,
    check_plain_name,
    check_tenant,
    safe_file_name,
    unique_names,
)
from tests.conftest import EXAMPLES

INVALID = [
    ("..", "use 1-63 characters"),
    ("a:b", "use 1-63 characters"),
    ("a/b", "use 1-63 characters"),
    ("한빛무역", "use 1-63 characters"),
    ("대양부품", "use 1-63 characters"),
    ("", "empty"),
    ("a" * 64, "at most 63"),
    ("Acme", "use 1-63 characters"),
    ("-acme", "use 1-63 characters"),
    ("acme.co", "use 1-63 characters"),
    ("nul", "reserved device name"),
]


@pytest.mark.parametrize("tenant", ["default", "acme", "a", "0acme", "acme-col_2", "a" * 63])
def test_valid_tenants_pass_unchanged(tenant: str) -> None:
    assert check_tenant(tenant) == tenant


@pytest.mark.parametrize(("tenant", "reason"), INVALID)
def test_invalid_tenants_are_rejected_with_the_reason(tenant: str, reason: str) -> None:
    with pytest.raises(InvalidTenantError, match="invalid tenant id") as caught:
        check_tenant(tenant)
    assert reason in str(caught.value)


def _documents(tenant: str) -> dict[type, dict[str, object]]:
    facts = KeyFacts().model_dump()
    return {
        EmailEvent: {"tenant": tenant, "from": "a@b.c", "message_id": "<m@b.c>"},
        NormalizedThread: {"tenant": tenant, "thread_id": "t-1", "messages": []},
        FactsExtracted: {"tenant": tenant, "thread_id": "t-1", "facts": facts},
        QuoteGenerated: {
            "tenant": tenant,
            "thread_id": "t-1",
            "quote_number": "Q-1",
            "markdown": "",
            "html": "",
            "facts_hash": "x",
        },
        FactsCorrected: {"tenant": tenant, "thread_id": "t-1", "facts": facts},
    }


@pytest.mark.parametrize("tenant", [t for t, _ in INVALID])
def test_every_event_model_rejects_an_invalid_tenant(tenant: str) -> None:
    for model, document in _documents(tenant).items():
        with pytest.raises(ValidationError, match="invalid tenant id"):
            model.model_validate(document)
    for model, document in _documents("acme").items():
        assert model.model_validate(document).tenant == "acme"  # type: ignore[attr-defined]


def test_settings_reject_an_invalid_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEFLOW_TENANT", "Acme")
    with pytest.raises(ValidationError, match="invalid tenant id 'Acme'"):
        Settings()
    monkeypatch.setenv("QUOTEFLOW_TENANT", "acme")
    assert Settings().tenant == "acme"


def test_tenants_that_used_to_sanitize_alike_are_refused_not_merged(tmp_path: Path) -> None:
    for tenant in ("한빛무역", "대양부품", "..", "a:b"):
        with pytest.raises(QuoteConfigError, match="invalid tenant id"):
            pdf_path(tmp_path, tenant, "Q-2026-000001", 1)


def test_two_tenants_never_share_a_pdf_folder_and_paths_stay_inside(tmp_path: Path) -> None:
    first = pdf_path(tmp_path, "hanbit", "Q-2026-000001", 1)
    second = pdf_path(tmp_path, "daeyang", "Q-2026-000001", 1)
    assert first == tmp_path / "hanbit" / "Q-2026-000001-r1.pdf"
    assert first.parent != second.parent
    assert all(p.resolve().is_relative_to(tmp_path.resolve()) for p in (first, second))


@pytest.mark.parametrize("number", ["../x", "/etc/passwd", "Q/1", "..", ".hidden", "Q 1", ""])
def test_quote_numbers_that_are_not_plain_names_get_no_pdf(tmp_path: Path, number: str) -> None:
    with pytest.raises(QuoteConfigError, match="not a plain file name"):
        pdf_path(tmp_path, "acme", number, 1)


def test_plain_names_are_kept_as_they_are() -> None:
    assert check_plain_name("t-0123abcd") == "t-0123abcd"
    with pytest.raises(UnsafeNameError):
        check_plain_name("a/../b")


async def test_two_tenants_never_share_redis_keys() -> None:
    """The same mail under two tenants: every key names exactly one tenant, in the same place."""
    store = MemoryStore()
    talk = read_mail_files([EXAMPLES / "talk-x-product.mbox"])[0]
    tenants = ("acme", "acme-col")
    book = QuoteBook(store)
    threads = {}
    for tenant in tenants:
        thread = await assemble_offline(talk, IngestSettings(tenant=tenant), store)
        assert thread is not None and thread.tenant == tenant
        threads[tenant] = thread
        slot = await book.next_slot(tenant, thread.thread_id, "hash", date(2026, 3, 3))
        assert slot is not None
        await book.record(tenant, thread.thread_id, slot, "hash")
    keys = list(store._data)
    by_tenant = {tenant: {k for k in keys if k.split(":")[1] == tenant} for tenant in tenants}
    assert set(keys) == by_tenant["acme"] | by_tenant["acme-col"]  # every key has its tenant in segment 2
    assert not by_tenant["acme"] & by_tenant["acme-col"]
    assert len(by_tenant["acme"]) == len(by_tenant["acme-col"])
    assert threads["acme"].thread_id != threads["acme-col"].thread_id


@pytest.mark.parametrize(
    ("value", "safe"),
    [("t-0123abcd", "t-0123abcd"), ("../x", "x"), ("/etc/passwd", "etc_passwd"), ("..", "item"), ("a b", "a_b")],
)
def test_safe_file_names_are_plain(value: str, safe: str) -> None:
    assert safe_file_name(value) == safe
    assert check_plain_name(safe_file_name(value)) == safe


def test_unique_names_keep_every_entry_apart_deterministically() -> None:
    assert unique_names(["quote", "quote", "quote-2", "Quote"]) == ["quote", "quote-3", "quote-2", "Quote-4"]
    assert unique_names(["a", "b"]) == ["a", "b"]


def test_process_output_folders_stay_inside_out(tmp_path: Path) -> None:
    from services.pipeline import ThreadOutcome, write_outcome
    from tests.conftest import FIXTURES

    facts = FactsExtracted.model_validate_json((FIXTURES / "quote" / "valves_en.facts.json").read_bytes())
    with pytest.raises(UnsafeNameError, match="not a plain file name"):
        write_outcome(ThreadOutcome(name="../escaped", thread_id="t-1", messages=1, facts=facts), tmp_path / "out")
    assert not (tmp_path / "escaped").exists()
    written = write_outcome(ThreadOutcome(name="valves", thread_id="t-1", messages=1, facts=facts), tmp_path / "out")
    assert written == [tmp_path / "out" / "valves" / "facts.json"]
