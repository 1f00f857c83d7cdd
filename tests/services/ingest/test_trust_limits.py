"""Trust: hostile headers are bounded before RFC 2047 decoding; deep or broken MIME never loses the body silently."""

from __future__ import annotations

from services.ingest.charsets import MAX_ENCODED_WORDS, MAX_HEADER_CHARS, decode_header_value
from services.ingest.normalize import normalize_event, normalize_raw
from services.ingest.settings import IngestSettings
from shared.events import EmailEvent

HEAD = "From: Kim <kim@hanbit-trading.co.kr>\r\nTo: sales@daeyang-parts.com\r\nMessage-ID: <hostile@test>\r\n"
ENCODED_WORD = "=?utf-8?b?6rKs7KCB?="  # 견적


def test_a_4_mb_subject_of_encoded_words_is_cut_with_a_warning() -> None:
    subject = " ".join([ENCODED_WORD] * 200_000)
    raw = (HEAD + f"Subject: {subject}\r\n\r\n견적 부탁드립니다.\r\n").encode()
    assert len(raw) > 4_000_000
    incoming = normalize_raw(raw, IngestSettings())
    assert incoming.message.subject.startswith("견적견적")
    assert len(incoming.message.subject) <= MAX_HEADER_CHARS
    assert f"Subject header cut from {len(subject)} to at most {MAX_HEADER_CHARS} characters" in incoming.warnings
    assert incoming.message.text == "견적 부탁드립니다."


def test_a_huge_address_header_is_cut_and_the_sender_kept() -> None:
    to = ", ".join(f"=?utf-8?b?6rmA?= <user{n}@example.com>" for n in range(120_000))
    raw = (f"From: Kim <kim@hanbit-trading.co.kr>\r\nTo: {to}\r\nSubject: quote\r\n\r\nhello\r\n").encode()
    incoming = normalize_raw(raw, IngestSettings())
    assert incoming.message.sender_email == "kim@hanbit-trading.co.kr"
    assert 0 < len(incoming.message.to) < 1000
    assert incoming.message.to[0] == "user0@example.com"
    assert any(w.startswith("To header cut from") for w in incoming.warnings)


def test_encoded_words_are_counted_even_within_the_length_cap() -> None:
    value = "".join(["=?a?q?x?="] * (MAX_ENCODED_WORDS + 500))
    assert len(value) < MAX_HEADER_CHARS
    assert decode_header_value(value) == "x" * MAX_ENCODED_WORDS


def test_decode_header_value_never_decodes_more_than_the_cap() -> None:
    decoded = decode_header_value(" ".join([ENCODED_WORD] * 100_000))
    assert 0 < len(decoded) <= MAX_HEADER_CHARS


def test_a_json_event_with_a_huge_subject_and_sender_is_cut_with_a_warning() -> None:
    event = EmailEvent.model_validate(
        {
            "from": "Kim " + "=?utf-8?b?6rmA?= " * 100_000 + "<kim@hanbit-trading.co.kr>",
            "subject": "견적 " * 1_000_000,
            "message_id": "<event-hostile@test>",
            "text": "Please quote.",
        }
    )
    incoming = normalize_event(event, IngestSettings())
    assert len(incoming.message.subject) <= MAX_HEADER_CHARS
    assert any(w.startswith("Subject header cut from") for w in incoming.message.warnings)
    assert any(w.startswith("From header cut from") for w in incoming.message.warnings)


def test_a_long_references_header_keeps_its_root_and_its_newest_ids() -> None:
    ids = [f"<m{n}-{'x' * 40}@example.com>" for n in range(1000)]
    raw = (HEAD + "Subject: RE: quote\r\nReferences: " + " ".join(ids) + "\r\n\r\nok\r\n").encode()
    incoming = normalize_raw(raw, IngestSettings())
    assert incoming.references[0] == ids[0].strip("<>")
    assert incoming.references[-1] == ids[-1].strip("<>")
    assert any(w.startswith("References header cut from") for w in incoming.warnings)


# --------------------------------------------------------------------------- MIME depth and boundaries


def _nested(depth: int, leaf: str) -> str:
    """``depth`` multipart/mixed levels around one text/plain part."""
    body = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{leaf}\r\n"
    for level in range(depth):
        boundary = f"b{level}"
        body = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n--{boundary}\r\n{body}--{boundary}--\r\n'
    return body


def test_text_nested_deeper_than_the_depth_limit_is_recovered_with_a_warning() -> None:
    settings = IngestSettings(max_mime_depth=3)
    raw = (HEAD + "Subject: deep\r\nMIME-Version: 1.0\r\n" + _nested(8, "Please quote 100 valves.")).encode()
    incoming = normalize_raw(raw, settings)
    assert incoming.message.text == "Please quote 100 valves."
    assert "MIME nesting deeper than 3: text parts below it taken as they are" in incoming.message.warnings


def test_a_multipart_without_a_boundary_is_read_as_text_with_a_warning() -> None:
    raw = (
        HEAD + "Subject: no boundary\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
        "Please quote 100 valves.\r\n"
    ).encode()
    incoming = normalize_raw(raw, IngestSettings())
    assert incoming.message.text == "Please quote 100 valves."
    assert "multipart/mixed without a boundary read as plain text" in incoming.message.warnings


def test_a_message_without_any_text_says_so() -> None:
    raw = (
        HEAD + "Subject: only a file\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    ).encode()
    incoming = normalize_raw(raw, IngestSettings())
    assert incoming.message.text == ""
    assert "no text body found" in incoming.message.warnings


def test_a_json_event_without_any_text_says_so() -> None:
    event = EmailEvent.model_validate({"from": "kim@hanbit-trading.co.kr", "message_id": "<empty@test>", "html": " "})
    incoming = normalize_event(event, IngestSettings())
    assert incoming.message.text == ""
    assert incoming.message.warnings == ["no text body found"]
