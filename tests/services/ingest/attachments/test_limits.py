"""Hostile and oversized attachments: a warning on the part, the message still normalized, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.attachments import read_attachments, sandbox
from services.ingest.attachments.limits import AttachmentLimits
from services.ingest.attachments.readers import AttachedFile, kind_of, read_file
from services.ingest.normalize import normalize_raw
from services.ingest.settings import IngestSettings
from tests.support import attachment_files as files


def read(name: str, data: bytes, limits: AttachmentLimits | None = None) -> list[str]:
    file = AttachedFile(name, "application/octet-stream", data)
    return read_file(file, kind_of(file), limits or AttachmentLimits()).warnings


def test_password_protected_pdf() -> None:
    assert read("quote.pdf", files.encrypted_pdf(files.EN_QUOTE)) == ["encrypted PDF (password-protected): not read"]


@pytest.mark.parametrize("kind", ["xlsx", "docx", "hwpx"])
def test_zip_bomb_is_refused_before_inflating(kind: str) -> None:
    [warning] = read(f"bomb.{kind}", files.zip_bomb(kind))
    assert warning.startswith("zip bomb refused: 'customXml/item9.xml' inflates 10")
    assert "QUOTEFLOW_MAX_DECOMPRESSION_RATIO=100" in warning


def test_500_page_pdf_reads_the_first_pages_only() -> None:
    file = AttachedFile("catalogue.pdf", "application/pdf", files.many_pages_pdf(500))
    part = read_file(file, "pdf", AttachmentLimits(max_pages=20))
    assert part.pages == 500
    assert part.warnings == ["PDF has 500 pages: only the first 20 read (QUOTEFLOW_MAX_ATTACHMENT_PAGES)"]
    assert part.text.count("Terms and conditions continue.") == 19
    assert "1 | Gate valve DN50 | 200 | pcs | 42.50 | 8,500.00" in part.text


def test_time_limit_stops_between_pages() -> None:
    file = AttachedFile("catalogue.pdf", "application/pdf", files.many_pages_pdf(40))
    part = read_file(file, "pdf", AttachmentLimits(timeout_s=0.000_001))
    assert part.warnings == ["stopped after 1e-06 s (QUOTEFLOW_ATTACHMENT_TIMEOUT_S): the rest is not read"]
    assert "Gate valve DN50" in part.text  # the first page is always read


def test_cell_and_character_limits() -> None:
    data = files.xlsx_quote(files.KO_QUOTE)
    part = read_file(AttachedFile("q.xlsx", "x", data), "xlsx", AttachmentLimits(max_cells=100, max_chars=1000))
    assert not part.warnings
    small = read_file(AttachedFile("q.xlsx", "x", data), "xlsx", AttachmentLimits(max_cells=10))
    assert small.warnings == ["stopped at 10 table cells (QUOTEFLOW_MAX_ATTACHMENT_CELLS): the rest is not read"]


def test_size_and_count_limits_apply_before_reading() -> None:
    settings = IngestSettings(max_attachment_bytes=4096, max_attachments=1, attachment_sandbox=False)
    big = AttachedFile("quote.pdf", "application/pdf", files.pdf_quote(files.EN_QUOTE))
    small = AttachedFile("quote.csv", "text/csv", files.csv_quote(files.EN_QUOTE))
    parts, warnings = read_attachments([big, small], settings)
    assert len(parts) == 1 and parts[0].text == ""
    assert (
        parts[0].warnings[0].endswith("exceed the attachment limit of 4096 (QUOTEFLOW_MAX_ATTACHMENT_BYTES): not read")
    )
    assert warnings[0] == "1 attachments beyond 1 not read (QUOTEFLOW_MAX_ATTACHMENTS)"


def test_sandboxed_read_matches_the_in_process_one() -> None:
    file = AttachedFile("q.xlsx", files.XLSX, files.xlsx_quote(files.EN_QUOTE))
    assert sandbox.read_isolated(file, "xlsx", AttachmentLimits()) == read_file(file, "xlsx", AttachmentLimits())


def test_a_worker_that_overruns_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh worker is still importing its readers when a 50 ms limit (no grace) runs out: it is killed."""
    pool = sandbox.WorkerPool()
    monkeypatch.setattr(sandbox, "KILL_GRACE_S", 0.0)
    file = AttachedFile("q.pdf", "application/pdf", files.pdf_quote(files.EN_QUOTE))
    try:
        part = pool.read(file, "pdf", AttachmentLimits(timeout_s=0.05))
    finally:
        pool.close()
    assert part.text == ""
    assert part.warnings == ["not read: still busy after 0.05 s (QUOTEFLOW_ATTACHMENT_TIMEOUT_S), reader killed"]


def test_hwp_bomb_is_refused_by_the_ratio_limit() -> None:
    [warning] = read("bomb.hwp", files.hwp_bomb(256 * 1024 * 1024))
    assert warning.startswith("HWP body stream inflates past ")


def test_memory_cap_turns_a_bomb_past_the_limits_into_a_warning() -> None:
    """With the ratio and size limits lifted, the worker's address-space cap still stops the inflation."""
    file = AttachedFile("bomb.hwp", "application/x-hwp", files.hwp_bomb())
    limits = AttachmentLimits(max_ratio=10**6, max_decompressed_bytes=2**40, memory_mb=256, timeout_s=60)
    part = sandbox.read_isolated(file, "hwp", limits)
    assert (part.text, part.warnings) == ("", ["not read: more than 256 MiB needed (QUOTEFLOW_ATTACHMENT_MEMORY_MB)"])
    # The pool replaced the worker: the next file reads normally.
    ok = AttachedFile("q.csv", "text/csv", files.csv_quote(files.KO_QUOTE))
    assert sandbox.read_isolated(ok, "csv", AttachmentLimits()).text


def test_hostile_attachments_never_lose_the_message() -> None:
    raw = files.mail(
        files.SUPPLIER,
        files.BUYER,
        "RE: 견적",
        "첨부 확인 부탁드립니다.",
        hours=1,
        message_id="<hostile@daeyang-parts.co.kr>",
        attachments=[
            ("secret.pdf", files.PDF, files.encrypted_pdf(files.KO_QUOTE)),
            ("bomb.xlsx", files.XLSX, files.zip_bomb("xlsx")),
            ("broken.docx", files.DOCX, b"PK\x03\x04broken"),
            ("logo.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ],
    )
    message = normalize_raw(raw, IngestSettings()).message
    assert message.text == "첨부 확인 부탁드립니다."
    assert [a.filename for a in message.attachments] == ["secret.pdf", "bomb.xlsx", "broken.docx", "logo.png"]
    assert [(p.filename, p.text) for p in message.attachment_parts] == [
        ("secret.pdf", ""),
        ("bomb.xlsx", ""),
        ("broken.docx", ""),
    ]
    assert [w.split(":")[0] for w in message.warnings] == [
        "attachment secret.pdf",
        "attachment bomb.xlsx",
        "attachment broken.docx",
    ]


def test_all_parts_of_a_message_share_the_text_budget() -> None:
    settings = IngestSettings(max_text_chars=1000, attachment_sandbox=False)
    quote = AttachedFile("q.pdf", files.PDF, files.pdf_quote(files.EN_QUOTE))
    parts, warnings = read_attachments([quote, quote, quote, quote], settings)
    total = sum(len(p.text) + sum(len(c) for t in p.tables for r in t for c in r) for p in parts)
    assert total <= 1000
    assert parts[0].tables and not parts[-1].text
    assert any("exceed QUOTEFLOW_MAX_TEXT_CHARS" in w for w in warnings)


def test_the_worker_gets_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEFLOW_KAFKA_SASL_PASSWORD", "hunter2")
    pool = sandbox.WorkerPool()
    try:
        pool.read(AttachedFile("q.csv", "text/csv", b"a,b\n1,2\n"), "csv", AttachmentLimits())
        [worker] = pool._idle
        environ = Path(f"/proc/{worker.process.pid}/environ").read_bytes()
    finally:
        pool.close()
    assert b"hunter2" not in environ and b"QUOTEFLOW_ATTACHMENT_MEMORY_MB=1024" in environ
