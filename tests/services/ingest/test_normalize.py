"""One e-mail in, one normalized message out: fixtures for every case, bad input rejected with a reason."""

from __future__ import annotations

import glob
import sysconfig
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.normalize import BadEmail, normalize_event, normalize_raw, normalize_subject
from services.ingest.settings import IngestSettings
from shared.events import EmailEvent
from tests.services.ingest.conftest import BAD_EMAIL_REASON, load

# --------------------------------------------------------------------------- charsets, end to end


def test_euc_kr_message_is_intact() -> None:
    message = load("ko_euckr_inquiry.eml").message
    assert message.subject == "X 제품 견적 요청"
    assert message.sender_name == "김서연"
    assert "X 제품 100개에 대한 견적을 요청드립니다." in message.text
    assert message.language == "ko"
    assert message.sender_company == "한빛무역"
    assert message.signature == "김서연\n한빛무역"


def test_ks_c_5601_label_keeps_cp949_syllables() -> None:
    message = load("ko_cp949_ks_c_5601.eml").message
    assert message.subject == "똠양꿍 소스 견적 요청"
    assert "똠양꿍 소스 200병과 햏볕 건조기 3대" in message.text
    assert "\ufffd" not in message.text + message.subject


@pytest.mark.parametrize(
    ("name", "snippet"),
    [
        ("ko_iso2022kr.eml", "X 제품 단가는 개당 10,000원입니다."),
        ("en_utf16.eml", "Please quote 400 pcs of DN50 ball valves, 서울 delivery."),
        ("wrong_charset_declared_latin1.eml", "가격을 조금 조정할 수 있을까요?"),
        ("missing_charset_euckr.eml", "배송 기간이 얼마나 걸리는지 알려주세요."),
    ],
)
def test_other_charsets_and_wrong_declarations(name: str, snippet: str) -> None:
    message = load(name).message
    assert snippet in message.text
    assert "\ufffd" not in message.text


def test_raw_8bit_headers_without_charset() -> None:
    message = load("missing_charset_euckr.eml").message
    assert message.subject == "견적 문의 (charset 없음)"
    assert message.sender_name == "김서연"


def test_rfc2047_q_and_b_headers() -> None:
    message = load("rfc2047_q_and_b.eml").message
    assert message.subject == "RE: X 제품 견적 요청 (Q and B)"
    assert (message.sender_name, message.sender_company) == ("박준호", "대양부품")
    assert message.to == ["seoyeon.kim@hanbit-trading.co.kr", "purchase@hanbit-trading.co.kr"]


def test_unsafe_codecs_are_not_used() -> None:
    message = load("unsafe_codec_header.eml").message
    assert message.text == "plain \\u0041 text"
    assert message.subject.startswith("\\u0041\\u0042")


# --------------------------------------------------------------------------- MIME


def test_rfc2231_attachment_names_and_sizes_are_recorded_not_stored() -> None:
    incoming = load("rfc2231_attachment.eml")
    names = [(a.filename, a.content_type, a.size) for a in incoming.message.attachments]
    assert names == [("견적서_2026.pdf", "application/pdf", 230), ("도면.png", "image/png", 64)]
    # The bytes never travel: only what could be read from them (this truncated PDF: nothing, and why).
    assert "%PDF" not in incoming.message.model_dump_json()
    [part] = incoming.message.attachment_parts
    assert (part.filename, part.kind, part.text) == ("견적서_2026.pdf", "pdf", "")
    assert part.warnings and part.warnings[0].startswith("corrupt PDF")


def test_html_only_price_table_keeps_rows() -> None:
    message = load("html_only_price_table.eml").message
    lines = message.text.splitlines()
    assert "품목 | 수량 | 단가 | 금액" in lines
    assert "X 제품 | 100 개 | 9,500원 | 950,000원" in lines
    assert "Y 부품 | 50 개 | 12,000원 | 600,000원" in lines
    assert "납기: 주문 후 7일" in lines
    assert "td {" not in message.text
    assert message.signature == "감사합니다.\n박준호\n대양부품"


def test_alternative_prefers_html_when_it_holds_the_table() -> None:
    message = load("alternative_with_table_and_attachment.eml").message
    assert "DN50 valve | 400 | USD 21.80" in message.text.splitlines()
    assert [a.filename for a in message.attachments] == ["price-list.xls"]
    assert message.sender_company == "Seoul Valve Co., Ltd."
    assert "+82" not in (message.sender_company or "")


def test_attached_rfc822_is_a_forward_with_its_own_sender() -> None:
    message = load("forward_rfc822_attached.eml").message
    assert message.text == "준호님, 아래 고객 문의 확인 부탁드립니다."
    (forwarded,) = message.forwarded
    assert forwarded.sender_email == "seoyeon.kim@hanbit-trading.co.kr"
    assert forwarded.message_id == "original-inquiry@hanbit-trading.co.kr"
    assert forwarded.text == "X 제품 100개 견적 부탁드립니다."
    assert forwarded.sender_company == "한빛무역"
    assert forwarded.date == datetime(2026, 2, 27, 1, 0, tzinfo=UTC)


def _nested(depth: int) -> bytes:
    message = b"From: a@example.com\r\nSubject: leaf\r\nMessage-ID: <leaf@x>\r\n\r\ninnermost text\r\n"
    for level in range(depth):
        message = (
            (
                f"From: level{level}@example.com\r\nSubject: wrap {level}\r\nMessage-ID: <wrap-{level}@x>\r\n"
                f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'
                f"--b{level}\r\nContent-Type: text/plain\r\n\r\nlevel {level}\r\n"
                f"--b{level}\r\nContent-Type: message/rfc822\r\n\r\n"
            ).encode()
            + message
            + f"\r\n--b{level}--\r\n".encode()
        )
    return message


@pytest.mark.parametrize(
    ("max_mime_depth", "warnings"),
    [
        # Two MIME levels per attached message: the walk stops at wrap-55, whose attachment is listed.
        (8, ["MIME nesting deeper than 8: text parts below it taken as they are"]),
        # A looser MIME limit: the forward limit (4) stops first, and says so.
        (
            30,
            [
                "MIME nesting deeper than 30: text parts below it taken as they are",
                "forwards nested deeper than 4 ignored",
            ],
        ),
    ],
)
def test_deeply_nested_forwards_are_bounded(max_mime_depth: int, warnings: list[str]) -> None:
    incoming = normalize_raw(_nested(60), IngestSettings(max_mime_depth=max_mime_depth))
    chain, message = [incoming.message], incoming.message
    while message.forwarded:
        (message,) = message.forwarded
        chain.append(message)
    assert [(m.message_id, m.sender_email, m.text) for m in chain] == [
        (f"wrap-{level}@x", f"level{level}@example.com", f"level {level}") for level in range(59, 54, -1)
    ]
    assert incoming.warnings == warnings
    assert incoming.message.warnings == warnings
    if max_mime_depth == 8:
        assert [(a.content_type, a.filename) for a in chain[-1].attachments] == [("message/rfc822", None)]


def test_many_parts_are_bounded() -> None:
    parts = "".join(
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename=f{i}.bin\r\n\r\nx\r\n"
        for i in range(1000)
    )
    raw = (
        "From: a@example.com\r\nSubject: parts\r\nMessage-ID: <parts@x>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n{parts}--b--\r\n"
    ).encode()
    incoming = normalize_raw(raw, IngestSettings(max_mime_parts=50))
    assert incoming.message.text == "hello"
    # The budget of 50 parts: the multipart, its text part and the first 48 attachments.
    assert [a.filename for a in incoming.message.attachments] == [f"f{i}.bin" for i in range(48)]
    assert incoming.warnings == ["MIME parts beyond 50 ignored"]


def test_pathological_multipart_nesting_is_rejected_or_bounded() -> None:
    depth = 3000
    head = "".join(f'Content-Type: multipart/mixed; boundary="n{i}"\r\n\r\n--n{i}\r\n' for i in range(depth))
    raw = f"From: a@example.com\r\nMessage-ID: <deep@x>\r\nMIME-Version: 1.0\r\n{head}".encode()
    try:
        incoming = normalize_raw(raw, IngestSettings())
    except BadEmail as exc:
        assert "deep" in str(exc) or "nesting" in str(exc)
    else:
        assert incoming.message.sender_email == "a@example.com"


# --------------------------------------------------------------------------- new content only


@pytest.mark.parametrize(
    "name",
    ["reply_outlook_ko.eml", "reply_naver.eml", "reply_daum.eml", "reply_gmail_ko.eml", "reply_hiworks_html.eml"],
)
def test_korean_client_reply_styles(name: str) -> None:
    message = load(name).message
    assert message.text == "X 제품 100개 기준 단가 9,500원으로 가능합니다."
    assert message.forwarded == []


def test_outlook_html_reply_container() -> None:
    assert load("reply_outlook_en_html.eml").message.text == "We can offer USD 20.90 per piece."


def test_inline_reply_keeps_the_answers() -> None:
    message = load("inline_reply_en.eml").message
    assert message.text == "Hi Daniel,\n\nCould you do USD 20.00 for 400 pcs?\n\nTwo weeks would be better for us."


@pytest.mark.parametrize(
    ("name", "sender", "company", "text", "date"),
    [
        (
            "forward_gmail_ko.eml",
            "seoyeon.kim@hanbit-trading.co.kr",
            "한빛무역",
            "X 제품 100개 견적 부탁드립니다.",
            # '2026년 3월 2일 (월) 오전 9:00' in the forwarding message's zone (+0900)
            datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
        ),
        (
            "forward_outlook_en.eml",
            "emily.carter@northwind-supply.com",
            None,
            "We are looking for 400 pcs of stainless steel ball valves DN50.",
            # 'Monday, April 6, 2026 10:00 AM' in the forwarding message's zone (+0000)
            datetime(2026, 4, 6, 10, 0, tzinfo=UTC),
        ),
    ],
)
def test_inline_forwards_keep_their_sender(
    name: str, sender: str, company: str | None, text: str, date: datetime
) -> None:
    message = load(name).message
    (forwarded,) = message.forwarded
    assert forwarded.sender_email == sender
    assert forwarded.text.startswith(text)
    assert forwarded.sender_company == company
    assert forwarded.date == date
    assert forwarded.message_id.startswith("fwd-")
    assert text not in message.text


def test_signatures_disclaimers_and_phone_blocks_are_removed() -> None:
    en = load("signature_disclaimer_en.eml").message
    assert en.text == "Dear Emily,\n\nOur price for the DN50 ball valve is USD 21.80 per piece, FOB Busan."
    assert en.sender_company == "Seoul Valve Co., Ltd."
    ko = load("signature_disclaimer_ko.eml").message
    assert ko.text == "안녕하세요, 김서연 과장님.\n\n100개 주문 시 5% 할인하여 개당 9,500원에 드릴 수 있습니다."
    assert ko.sender_company == "대양부품㈜"
    assert ko.signature == (
        "감사합니다.\n\n박준호 과장\n대양부품㈜ 영업팀\nTel. 02-1234-5678 / Fax. 02-1234-5679\nM. 010-9876-5432\n"
        "서울특별시 금천구 가산디지털1로 123, 5층\n\n"
        "※ 본 메일은 발신자가 지정한 수신인만을 위한 것이며 기밀 정보를 포함할 수 있습니다. "
        "잘못 수신하신 경우 즉시 삭제해 주시기 바랍니다."
    )
    mobile = load("signature_mobile_ko.eml").message
    assert mobile.text == "네, 그 조건으로 진행하겠습니다."


# --------------------------------------------------------------------------- identity


def test_message_id_and_content_hash_are_stable() -> None:
    first = load("ko_euckr_inquiry.eml", arrival=1).message
    again = load("ko_euckr_inquiry.eml", arrival=7).message
    assert first.message_id == "euckr-1@hanbit-trading.co.kr"
    assert first.content_hash == again.content_hash
    assert len(first.content_hash) == 32


def test_missing_message_id_gets_a_stable_generated_one() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\nDate: Mon, 02 Mar 2026 09:00:00 +0900\r\n\r\nhello\r\n"
    first = normalize_raw(raw, IngestSettings()).message
    assert first.message_id.startswith("generated-")
    assert first.message_id == normalize_raw(raw, IngestSettings()).message.message_id


@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("RE: Fwd: 회신: 답장: 전달: FW: 견적 요청", "견적 요청"),
        ("[EXTERNAL] RE: Quote [#4521]", "Quote"),
        ("Re[2]: 답변: Quote", "Quote"),
        ("RE：견적", "견적"),
        ("[외부메일] 회신: 견적", "견적"),
        ("Price list", "Price list"),
    ],
)
def test_subject_normalization(subject: str, normalized: str) -> None:
    assert normalize_subject(subject) == normalized


# --------------------------------------------------------------------------- rejected input


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"\x00\x01\x02binary\xff" * 50, "binary"),
        (b"just some text without any header\n", "header"),
        (b"Subject: no sender\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n", "From"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "binary"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadEmail, match=reason):
        normalize_raw(raw, IngestSettings())


def test_size_limit() -> None:
    settings = IngestSettings(max_email_bytes=2048)
    raw = b"From: a@example.com\r\n\r\n" + b"x" * 4096
    with pytest.raises(BadEmail, match="exceeds the limit of 2048"):
        normalize_raw(raw, settings)


def test_json_event() -> None:
    event = EmailEvent.model_validate(
        {
            "from": "박준호 / 대양부품 <junho.park@daeyang-parts.com>",
            "to": ["김서연 <seoyeon.kim@hanbit-trading.co.kr>"],
            "subject": "RE: X 제품",
            "message_id": "<json-1@daeyang-parts.com>",
            "in_reply_to": "<json-0@hanbit-trading.co.kr>",
            "html": "<p>단가표</p><table><tr><td>X 제품</td><td>9,500원</td></tr>"
            "<tr><td>Y</td><td>1원</td></tr></table>",
            "tenant": "acme",
        }
    )
    incoming = normalize_event(event, IngestSettings(own_domains=["daeyang-parts.com"]))
    assert incoming.tenant == "acme"
    assert incoming.message.message_id == "json-1@daeyang-parts.com"
    assert incoming.references == ["json-0@hanbit-trading.co.kr"]
    assert "X 제품 | 9,500원" in incoming.message.text
    assert incoming.message.role == "supplier"
    assert incoming.message.sender_company == "대양부품"


def test_json_event_without_sender_is_rejected() -> None:
    event = EmailEvent.model_validate({"from": "", "message_id": "x@y", "text": "hi"})
    with pytest.raises(BadEmail, match="From"):
        normalize_event(event, IngestSettings())


# --------------------------------------------------------------------------- CPython's own corpus

CPYTHON_CORPUS = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/test/test_email/data/msg_*.txt"))


@pytest.mark.skipif(not CPYTHON_CORPUS, reason="CPython's test_email data is not installed")
def test_cpython_email_corpus_normalizes_or_is_rejected_with_a_reason() -> None:
    normalized, rejected = [], []
    for path in CPYTHON_CORPUS:
        try:
            normalize_raw(Path(path).read_bytes(), IngestSettings())
            normalized.append(path)
        except BadEmail as exc:
            assert BAD_EMAIL_REASON.fullmatch(str(exc)), str(exc)
            rejected.append((Path(path).name, str(exc)))
    assert len(normalized) + len(rejected) == len(CPYTHON_CORPUS)
    assert len(normalized) >= 41, rejected
    print(f"CPython corpus: {len(normalized)} of {len(CPYTHON_CORPUS)} normalize; rejected: {rejected}")
