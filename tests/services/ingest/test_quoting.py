"""Quoted history is removed and forwards kept, for Korean and English clients and the talon corpus."""

from __future__ import annotations

import email
import email.iterators
import re
from pathlib import Path

import pytest

from services.ingest.html_text import html_to_text
from services.ingest.quoting import is_forward_subject, split_reply
from tests.services.ingest.conftest import TALON

REPLY = "X 제품 100개 기준 단가 9,500원으로 가능합니다."


@pytest.mark.parametrize(
    "history",
    [
        "-----Original Message-----\nFrom: 김서연\nSent: Monday\nSubject: 견적\n\n견적 부탁드립니다.",
        "----- 원본 메일 -----\n보낸사람 : 김서연 <a@b.kr>\n날짜 : 2026년 3월 2일\n제목 : 견적\n\n견적 부탁드립니다.",
        "보낸 사람: 김서연 <a@b.kr>\n보낸 날짜: 2026년 3월 2일 월요일 오전 9:00\n"
        "받는 사람: 박준호\n제목: 견적\n\n견적 부탁드립니다.",
        "From: Kim <a@b.kr>\nSent: Monday, March 2, 2026 9:00 AM\nTo: Park\nSubject: RE: 견적\n\n견적 부탁드립니다.",
        "________________________________\nFrom: Kim <a@b.kr>\nDate: 2026-03-02\nSubject: 견적\n\n견적 부탁드립니다.",
        "2026년 3월 2일 (월) 오전 9:00, 김서연 <a@b.kr>님이 작성:\n\n> 견적 부탁드립니다.",
        "On Mon, Mar 2, 2026 at 9:00 AM Kim <a@b.kr> wrote:\n> 견적 부탁드립니다.\n> > older",
        "On Mon, Mar 2, 2026 at 9:00 AM Kim Seoyeon <a@b.kr>\nwrote:\n\n> 견적 부탁드립니다.",
        "--- On Mon, 3/2/26, a@b.kr <a@b.kr> wrote:\n\nFrom: a@b.kr\nSubject: 견적\n\n견적 부탁드립니다.",
        "> 견적 부탁드립니다.",
    ],
)
def test_history_styles_are_cut(history: str) -> None:
    split = split_reply(f"{REPLY}\n\n{history}\n")
    assert split.text == REPLY
    assert "부탁드립니다" in split.quoted or not split.quoted


def test_inline_reply_keeps_answers_between_quotes() -> None:
    body = (
        "Hi,\n\nOn Mon, Apr 6 2026, Dan <d@x.kr> wrote:\n> Price is USD 21.80.\n\n"
        "Could you do 20?\n\n> Lead time 4 weeks.\n\nOK."
    )
    assert split_reply(body).text == "Hi,\n\nCould you do 20?\n\nOK."


def test_bottom_posting_keeps_text_after_quote() -> None:
    assert split_reply("On 04/02/2012 06:26 PM, Megan wrote:\n> Hi\nHello").text == "Hello"


@pytest.mark.parametrize(
    "separator",
    [
        "---------- Forwarded message ---------",
        "-------- Original Message --------",
        "Begin forwarded message:",
        "----- 전달된 메시지 -----",
    ],
)
def test_forward_separators_give_forwarded_blocks(separator: str) -> None:
    body = (
        f"확인 부탁드립니다.\n\n{separator}\n보낸사람: 김서연 <a@b.kr>\n"
        "Date: 2026년 3월 2일\nSubject: 견적\n\n견적 부탁드립니다."
    )
    split = split_reply(body, forward=True)
    assert split.text == "확인 부탁드립니다."
    (block,) = split.forwarded
    assert block.headers["from"] == "김서연 <a@b.kr>"
    assert block.headers["subject"] == "견적"
    assert block.body == "견적 부탁드립니다."


def test_header_block_is_a_forward_only_under_a_forward_subject() -> None:
    body = "FYI\n\nFrom: Kim <a@b.kr>\nSent: Monday\nTo: Park\nSubject: 견적\n\n견적 부탁드립니다."
    assert split_reply(body, forward=False).forwarded == []
    assert split_reply(body, forward=True).forwarded[0].headers["from"] == "Kim <a@b.kr>"


@pytest.mark.parametrize(
    ("subject", "forward"),
    [
        ("FW: x", True),
        ("Fwd: x", True),
        ("전달: x", True),
        ("[EXTERNAL] FW: x", True),
        ("RE: FW: x", False),
        ("x", False),
    ],
)
def test_forward_subjects(subject: str, forward: bool) -> None:
    assert is_forward_subject(subject) is forward


def test_plain_text_with_colons_is_not_history() -> None:
    body = "Terms:\nPrice: USD 20\nDate: next week\nPayment: T/T"
    assert split_reply(body).text == body


# --------------------------------------------------------------------------- talon corpus

needs_talon = pytest.mark.skipif(not TALON.is_dir(), reason="../shared/corpora/talon is absent")


def _plain_part(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes())
    part = next(email.iterators.typed_subpart_iterator(message, "text", "plain"))
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "ascii")


def _talon_replies() -> list[Path]:
    return sorted((TALON / "standard_replies").glob("*.eml")) if TALON.is_dir() else []


@needs_talon
@pytest.mark.parametrize("path", _talon_replies(), ids=lambda p: p.name)
def test_talon_standard_replies(path: Path) -> None:
    """talon's expectation: the reply text, 'Hello' unless a <name>_reply_text file says otherwise."""
    expected_file = path.with_name(path.stem + "_reply_text")
    expected = expected_file.read_text().strip() if expected_file.exists() else "Hello"
    got = split_reply(_plain_part(path)).text

    def norm(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip().splitlines())

    assert norm(got) == norm(expected)


def _talon_html() -> list[Path]:
    return sorted((TALON / "html_replies").glob("*.html")) if TALON.is_dir() else []


@needs_talon
@pytest.mark.parametrize("path", _talon_html(), ids=lambda p: p.name)
def test_talon_html_replies(path: Path) -> None:
    """talon's expectation for every html_replies fixture, compared without whitespace."""
    got = split_reply(html_to_text(path.read_text(encoding="utf-8"))).text
    assert re.sub(r"\s", "", got) == re.sub(r"\s", "", "Hi. I am fine.\n\nThanks,\nAlex")


@needs_talon
@pytest.mark.parametrize(
    ("name", "expected"), [("OLK_SRC_BODY_SECTION.html", "Reply"), ("reply-separated-by-hr.html", "Hi there Bob")]
)
def test_talon_html_separators(name: str, expected: str) -> None:
    got = split_reply(html_to_text((TALON / name).read_text())).text
    assert re.sub(r"\s", "", got) == re.sub(r"\s", "", expected)


@needs_talon
def test_talon_quotations_share_block() -> None:
    got = split_reply(_plain_part(TALON / "reply-quotations-share-block.eml")).text
    assert got.startswith("Hi Katharine.")
    assert "From" not in got and "wrote" not in got
