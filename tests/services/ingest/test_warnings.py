"""What normalization cut or guessed travels with the message (NormalizedMessage.warnings) to the thread event."""

from __future__ import annotations

import pytest

from services.ingest.charsets import decode_bytes
from services.ingest.normalize import normalize_event, normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from shared.events import EmailEvent, NormalizedThread
from shared.store import MemoryStore
from tests.services.ingest.conftest import load


def _raw(body: bytes, content_type: str) -> bytes:
    return (
        b"From: Kim <kim@hanbit-trading.co.kr>\r\nTo: sales@daeyang-parts.com\r\nSubject: quote\r\n"
        b"Message-ID: <w1@test>\r\nMIME-Version: 1.0\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )


@pytest.mark.parametrize(
    "name",
    ["ko_euckr_inquiry.eml", "ko_cp949_ks_c_5601.eml", "ko_iso2022kr.eml", "en_utf16.eml", "rfc2047_q_and_b.eml"],
)
def test_correctly_declared_mail_has_no_warnings(name: str) -> None:
    assert load(name).message.warnings == []


@pytest.mark.parametrize(
    ("name", "warning"),
    [
        ("missing_charset_euckr.eml", "no charset declared; decoded as cp949"),
        ("wrong_charset_declared_latin1.eml", "charset 'iso-8859-1' did not fit the text; decoded as utf-8"),
    ],
)
def test_guessed_charsets_are_warned(name: str, warning: str) -> None:
    incoming = load(name)
    assert incoming.message.warnings == [warning]
    assert incoming.warnings == incoming.message.warnings


def test_unknown_charset_label_is_warned() -> None:
    raw = _raw("견적 부탁드립니다".encode(), "text/plain; charset=x-made-up")
    message = normalize_raw(raw, IngestSettings()).message
    assert message.text == "견적 부탁드립니다"
    assert message.warnings == ["unknown charset 'x-made-up'; decoded as utf-8"]


def test_one_warning_per_kind_however_many_parts_share_it() -> None:
    part = "--b\r\nContent-Type: text/plain\r\n\r\n단가 문의\r\n"
    raw = _raw((part * 30 + "--b--\r\n").encode(), 'multipart/mixed; boundary="b"')
    assert normalize_raw(raw, IngestSettings()).message.warnings == ["no charset declared; decoded as utf-8"]


def test_cut_mime_parts_are_on_the_message() -> None:
    attachments = "".join(
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename=f{i}.bin\r\n\r\nx\r\n"
        for i in range(20)
    )
    raw = _raw(
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n{attachments}--b--\r\n".encode(),
        'multipart/mixed; boundary="b"',
    )
    message = normalize_raw(raw, IngestSettings(max_mime_parts=5)).message
    assert message.text == "hello"
    assert message.warnings == ["MIME parts beyond 5 ignored"]


def test_cut_text_of_a_json_event_is_on_the_message() -> None:
    event = EmailEvent.model_validate(
        {"from": "kim@hanbit-trading.co.kr", "message_id": "<long@test>", "subject": "long", "text": "가" * 5000}
    )
    message = normalize_event(event, IngestSettings(max_text_chars=1000)).message
    assert len(message.text) == 1000
    assert message.warnings == ["new text cut from 5000 to 1000 characters"]


def test_forwarded_messages_do_not_repeat_the_warnings() -> None:
    (forward,) = load("forward_rfc822_attached.eml").message.forwarded
    assert forward.message_id == "original-inquiry@hanbit-trading.co.kr"
    assert forward.warnings == []
    # A warning on the outer message (its text has no charset) stays there, not on the attached one.
    inner = (
        b"From: Kim <kim@hanbit-trading.co.kr>\r\nSubject: orig\r\nMessage-ID: <inner@test>\r\n"
        b"Content-Type: text/plain\r\n\r\n" + "견적 부탁드립니다".encode("cp949") + b"\r\n"
    )
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + "아래 확인 바랍니다".encode("cp949") + b"\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    message = normalize_raw(_raw(body, 'multipart/mixed; boundary="b"'), IngestSettings()).message
    assert message.text == "아래 확인 바랍니다"
    assert message.warnings == ["no charset declared; decoded as cp949"]
    (forward,) = message.forwarded
    assert (forward.message_id, forward.text) == ("inner@test", "견적 부탁드립니다")
    assert forward.warnings == []


async def test_warnings_reach_the_thread_event_and_its_stored_state() -> None:
    repository = ThreadRepository(MemoryStore(), IngestSettings())
    incoming = load("missing_charset_euckr.eml")
    thread = await repository.assemble(incoming)
    await repository.commit(incoming, thread)
    published = NormalizedThread.model_validate_json(thread.model_dump_json())
    assert published.messages[0].warnings == ["no charset declared; decoded as cp949"]
    stored = await repository.load(incoming.tenant, thread.thread_id)
    assert stored is not None and stored.messages[0].warnings == published.messages[0].warnings


def test_latin1_text_with_one_hangul_looking_byte_pair_stays_latin1() -> None:
    """'¡This' (0xA1 'T') also decodes as one CP949 syllable; one is no reason to overrule the declaration."""
    assert decode_bytes("¡This is quoted-printable".encode("latin-1"), "iso-8859-1") == (
        "¡This is quoted-printable",
        "cp1252",
    )
    assert decode_bytes("견적 요청드립니다".encode("cp949"), "iso-8859-1") == ("견적 요청드립니다", "cp949")
