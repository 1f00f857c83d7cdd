"""Signatures, mobile footers and disclaimers are cut; the sender's company is read from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.signatures import company_from_signature, split_display_name, split_signature
from tests.services.ingest.conftest import TALON

SIGNATURES = TALON / "signature" / "emails"
needs_talon = pytest.mark.skipif(not SIGNATURES.is_dir(), reason="../shared/corpora/talon is absent")


def _stripped_cases() -> list[str]:
    if not SIGNATURES.is_dir():
        return []
    return sorted(p.name[: -len("_body")] for p in (SIGNATURES / "stripped").glob("*_body"))


def _sender(text: str) -> tuple[str | None, str | None]:
    text = text.strip()
    return (None, text) if "@" in text else (text or None, None)


@needs_talon
@pytest.mark.parametrize("case", _stripped_cases())
def test_talon_stripped_signatures(case: str) -> None:
    """talon's signature/emails/stripped: <case>_body with <case>_sender gives <case>_signature.

    Lines marked '#sig#' in the corpus are the annotated signature; the marker is not content.
    """
    folder = SIGNATURES / "stripped"
    body = (folder / f"{case}_body").read_text(encoding="utf-8").replace("#sig#", "")
    expected = (folder / f"{case}_signature").read_text(encoding="utf-8").replace("#sig#", "").strip()
    name, address = _sender((folder / f"{case}_sender").read_text(encoding="utf-8"))
    result = split_signature(body, name, address)
    assert (result.signature or "").strip() == expected
    assert result.text.strip() == body.strip()[: len(body.strip()) - len(expected)].strip()


def _annotated(path: Path) -> tuple[str, str, str | None]:
    """A talon P file: (body without markers, expected signature, sender from a 'From:' first line)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    sender = None
    if lines and lines[0].startswith("From:"):
        sender = lines[0][5:].strip()
        lines = lines[1:]
    body = [line.replace("#sig#", "").replace("#reply#", "") for line in lines if not line.startswith("#reply#")]
    signature = [line.replace("#sig#", "") for line in lines if line.startswith("#sig#")]
    return "\n".join(body), "\n".join(signature).strip(), sender


@needs_talon
@pytest.mark.parametrize("name", ["johndoeexamplecom_body", "unicode_msg"])
def test_talon_positive_examples(name: str) -> None:
    body, expected, sender = _annotated(SIGNATURES / "P" / name)
    if name == "johndoeexamplecom_body":
        sender = (SIGNATURES / "P" / "johndoeexamplecom_sender").read_text().strip()
        expected = body[body.index("John E. Doe") :].strip()
    if name == "unicode_msg":
        expected = "С уважением,\nСергей Обухов"
    sender_name, address = _sender(sender or "")
    assert (split_signature(body, sender_name, address).signature or "").strip() == expected


@pytest.mark.parametrize(
    ("text", "name", "body", "signature"),
    [
        ("견적 부탁드립니다.\n\n김서연\n한빛무역", "김서연", "견적 부탁드립니다.", "김서연\n한빛무역"),
        (
            "Price is USD 20.\n\nBest regards,\nDaniel Lee\nSeoul Valve Co., Ltd.",
            "Daniel Lee",
            "Price is USD 20.",
            "Best regards,\nDaniel Lee\nSeoul Valve Co., Ltd.",
        ),
        ("네, 진행하겠습니다.\n\niPhone에서 보냄", None, "네, 진행하겠습니다.", "iPhone에서 보냄"),
        ("OK for me.\n\nSent from my iPhone", None, "OK for me.", "Sent from my iPhone"),
        (
            "See below.\n-- \nDaniel\nhttp://seoul-valve.co.kr",
            None,
            "See below.",
            "-- \nDaniel\nhttp://seoul-valve.co.kr",
        ),
    ],
)
def test_signature_styles(text: str, name: str | None, body: str, signature: str) -> None:
    result = split_signature(text, name, None)
    assert result.text == body
    assert result.signature == signature


def test_disclaimers_are_cut_in_korean_and_english() -> None:
    ko = "단가는 9,500원입니다.\n\n※ 본 메일은 수신인만을 위한 것이며 기밀 정보를 포함할 수 있습니다."
    en = "Price is USD 20.\n\nCONFIDENTIALITY NOTICE: This e-mail is confidential and intended only for you."
    assert split_signature(ko).text == "단가는 9,500원입니다."
    assert split_signature(en).text == "Price is USD 20."


def test_content_is_never_taken_for_a_signature() -> None:
    for text in [
        "견적서 잘 받았습니다.\n감사합니다.\n다음 주에 발주 예정입니다.",
        "Martin, can we get:\n\n1 L Male\n1 M Male\n\nThat'd be awesome! Really cool shirts!",
        "요청하신 단가입니다.\n\n박준호\nX 제품 9,500원",
        "Only one line",
    ]:
        assert split_signature(text, "박준호", None).text == text.strip()


@pytest.mark.parametrize(
    ("display", "name", "company"),
    [
        ("박준호 / 대양부품", "박준호", "대양부품"),
        ("Junho Park (Daeyang Parts)", "Junho Park", "Daeyang Parts"),
        ("김서연 | 한빛무역", "김서연", "한빛무역"),
        ("Emily Carter", "Emily Carter", None),
        ("Lee, Daniel", "Lee, Daniel", None),
        (None, None, None),
    ],
)
def test_display_names(display: str | None, name: str | None, company: str | None) -> None:
    assert split_display_name(display) == (name, company)


def test_company_from_signature_never_a_phone_number() -> None:
    signature = "박준호 과장\n대양부품㈜ 영업팀\nTel. 02-1234-5678\nM. 010-9876-5432"
    assert company_from_signature(signature, "박준호", None) == "대양부품㈜"
    assert company_from_signature("Daniel Lee\n+82-2-555-0199", "Daniel Lee", None) is None
    assert company_from_signature("Best regards,\nEmily Carter\nNorthwind Supply", "Emily Carter", None) == (
        "Northwind Supply"
    )
