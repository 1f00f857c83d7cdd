"""Outlook .msg files and winmail.dat: read as the mail they hold, by the CLI and from the raw topic."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.handlers import decode_incoming
from services.ingest.mailfiles import read_mail_files
from services.ingest.normalize import BadEmail, normalize_raw
from services.ingest.outlook import outlook_kind, to_rfc5322
from services.ingest.settings import IngestSettings
from tests.support import attachment_files as files
from tests.support.outlook_files import build_msg

ROW = "1 | X 제품 | XP-100 | 100 | 개 | 9,500 | 950,000"


def outlook_reply(**extra: object) -> bytes:
    options: dict[str, object] = {
        "sender_name": "박준호",
        "sender_email": files.SUPPLIER[1],
        "to": [files.BUYER],
        "subject": "RE: X 제품 견적 요청",
        "body": "안녕하세요.\r\n첨부된 견적서를 확인해주시기 바랍니다.\r\n\r\n박준호 드림",
        "date": datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        "message_id": "<answer-1@daeyang-parts.co.kr>",
        "in_reply_to": "<ask-1@hanbit-trading.co.kr>",
        "attachments": (("견적서.pdf", files.PDF, files.pdf_quote(files.KO_QUOTE)),),
    }
    options.update(extra)
    return build_msg(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def msg() -> bytes:
    return outlook_reply()


def test_msg_becomes_the_mail_it_holds(msg: bytes) -> None:
    assert outlook_kind(msg) == "msg"
    message = normalize_raw(msg, IngestSettings()).message
    assert (message.message_id, message.in_reply_to) == ("answer-1@daeyang-parts.co.kr", "ask-1@hanbit-trading.co.kr")
    assert (message.sender_name, message.sender_email, message.to) == ("박준호", files.SUPPLIER[1], [files.BUYER[1]])
    assert message.date == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert message.text == "안녕하세요.\n첨부된 견적서를 확인해주시기 바랍니다."
    assert [a.filename for a in message.attachments] == ["견적서.pdf"]
    assert ROW in message.attachment_parts[0].text.splitlines()


def test_conversion_is_deterministic_so_the_raw_hash_deduplicates(msg: bytes) -> None:
    assert to_rfc5322(msg) == to_rfc5322(msg)
    first = normalize_raw(msg, IngestSettings()).message
    assert first.content_hash == normalize_raw(msg, IngestSettings()).message.content_hash


def test_transport_headers_win_over_properties() -> None:
    headers = (
        "From: Junho Park <junho.park@daeyang-parts.co.kr>\r\nTo: seoyeon.kim@hanbit-trading.co.kr\r\n"
        "Subject: RE: X 제품 견적 요청\r\nDate: Mon, 2 Mar 2026 12:00:00 +0900\r\n"
        "Message-ID: <from-headers@daeyang-parts.co.kr>\r\nReferences: <ask-1@hanbit-trading.co.kr>\r\n\r\n"
    )
    message = normalize_raw(outlook_reply(transport_headers=headers), IngestSettings()).message
    assert message.message_id == "from-headers@daeyang-parts.co.kr"
    assert message.sender_name == "Junho Park"


def test_cli_reads_msg_files_and_folders(tmp_path: Path, msg: bytes) -> None:
    (tmp_path / "answer.msg").write_bytes(msg)
    (tmp_path / "notes.txt").write_text("not mail")
    [mail_file] = read_mail_files([tmp_path])
    assert mail_file.path.name == "answer.msg"
    assert normalize_raw(mail_file.messages[0], IngestSettings()).message.attachment_parts


def test_raw_topic_accepts_msg_bytes(msg: bytes) -> None:
    incoming = decode_incoming(msg, IngestSettings(), tenant=None, arrival=0)
    assert incoming.message.subject == "RE: X 제품 견적 요청"


def test_corrupt_msg_is_a_bad_email_with_the_reason(msg: bytes) -> None:
    broken = msg[:76] + b"\xf0\xff\xff\x7f" + msg[80:]  # the header points the FAT past the end of the file
    with pytest.raises(BadEmail, match=r"unreadable Outlook \.msg"):
        normalize_raw(broken, IngestSettings())


def test_winmail_dat_attachment_gives_its_body_and_files() -> None:
    dat = files.winmail_dat("첨부 견적서 참조 바랍니다.", [("견적서.xlsx", files.xlsx_quote(files.KO_QUOTE))])
    raw = files.mail(
        files.SUPPLIER,
        files.BUYER,
        "RE: X 제품 견적 요청",
        "",
        hours=3,
        message_id="<tnef@daeyang-parts.co.kr>",
        attachments=[("winmail.dat", "application/ms-tnef", dat)],
    )
    parts = normalize_raw(raw, IngestSettings()).message.attachment_parts
    assert [(p.filename, p.kind) for p in parts] == [("winmail.dat", "tnef"), ("견적서.xlsx", "xlsx")]
    assert parts[0].text == "첨부 견적서 참조 바랍니다."
    assert "1 | X 제품 | XP-100 | 100 | 개 | 9500 | 950000" in parts[1].text.splitlines()


def test_bare_winmail_dat_without_a_sender_is_refused() -> None:
    dat = files.winmail_dat("본문", [])
    with pytest.raises(BadEmail, match=r"winmail\.dat names no sender"):
        normalize_raw(dat, IngestSettings())


def test_an_attached_outlook_item_is_a_forwarded_message(msg: bytes) -> None:
    raw = files.mail(
        files.BUYER,
        ("구매팀", "purchase@hanbit-trading.co.kr"),
        "FW: X 제품 견적",
        "공급사 견적 메일 전달합니다.",
        hours=5,
        message_id="<fw-1@hanbit-trading.co.kr>",
        attachments=[("RE X 제품 견적 요청.msg", "application/vnd.ms-outlook", msg)],
    )
    message = normalize_raw(raw, IngestSettings()).message
    [forwarded] = message.forwarded
    assert (forwarded.sender_email, forwarded.message_id) == (files.SUPPLIER[1], "answer-1@daeyang-parts.co.kr")
    assert ROW in forwarded.attachment_parts[0].text.splitlines()
    assert [a.filename for a in message.attachments] == ["RE X 제품 견적 요청.msg"]
