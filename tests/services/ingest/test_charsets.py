"""Charset labels, detection and RFC 2047/2231 decoding, with Korean intact."""

from __future__ import annotations

import email

import pytest

from services.ingest.charsets import codec_for, decode_bytes, decode_header_value, decode_param, detect_codec

CP949_ONLY = "똠햏똘 가격"  # syllables EUC-KR cannot encode


@pytest.mark.parametrize("label", ["ks_c_5601-1987", "KS_C_5601-1987", "euc-kr", "EUC_KR", "x-windows-949", "cp949"])
def test_korean_labels_decode_as_cp949(label: str) -> None:
    assert codec_for(label) == "cp949"
    text, _ = decode_bytes(CP949_ONLY.encode("cp949"), label)
    assert text == CP949_ONLY
    assert "\ufffd" not in text


def test_python_default_mapping_would_lose_syllables() -> None:
    """Why the mapping exists: the stdlib's euc-kr turns 똠 into U+FFFD."""
    assert "\ufffd" in CP949_ONLY.encode("cp949").decode("euc_kr", "replace")


@pytest.mark.parametrize("label", ["unicode_escape", "raw-unicode-escape", "base64", "rot13", "zlib", "bogus-8", ""])
def test_only_text_codecs_are_accepted(label: str) -> None:
    assert codec_for(label) is None


def test_unicode_escape_encoded_word_is_not_executed() -> None:
    assert decode_header_value("=?unicode_escape?Q?\\u0041?=") == "\\u0041"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?utf-8?B?6rKs7KCBIOyalOyyrQ==?=", "견적 요청"),
        ("=?UTF-8?Q?=EA=B2=AC=EC=A0=81_=EC=9A=94=EC=B2=AD?=", "견적 요청"),
        ("=?ks_c_5601-1987?B?" + __import__("base64").b64encode("똠양꿍".encode("cp949")).decode() + "?=", "똠양꿍"),
        ("RE: =?utf-8?B?6rKs7KCB?= =?utf-8?B?IOyalOyyrQ==?=", "RE: 견적 요청"),
        ("=?utf-8?B?6rKs7KCB?==?utf-8?B?IOyalOyyrQ==?=", "견적 요청"),
        ("plain subject\r\n folded", "plain subject folded"),
        ("=?broken?Q?abc", "=?broken?Q?abc"),
    ],
)
def test_encoded_words(header: str, expected: str) -> None:
    assert decode_header_value(header) == expected


def test_raw_8bit_header_is_detected() -> None:
    raw = "견적 문의".encode("euc-kr").decode("ascii", "surrogateescape")
    assert decode_header_value(raw) == "견적 문의"


def test_rfc2231_parameter_tuple() -> None:
    # The stdlib percent-decodes (as Latin-1) before it hands the tuple over: a '%' left in it is literal.
    message = email.message_from_string(
        "Content-Disposition: attachment; filename*=utf-8'ko'%EA%B2%AC%EC%A0%81.pdf\n\nx\n"
    )
    value = message.get_param("filename", header="content-disposition")
    assert value == ("utf-8", "ko", "견적.pdf".encode().decode("latin-1"))
    assert decode_param(value) == "견적.pdf"
    assert decode_param(("utf-8", "ko", "%EA%B2%AC%EC%A0%81.pdf")) == "%EA%B2%AC%EC%A0%81.pdf"
    value = ("utf-8", "", "견적서.pdf".encode().decode("latin-1"))
    assert decode_param(value) == "견적서.pdf"


@pytest.mark.parametrize(
    ("data", "declared", "expected", "codec"),
    [
        ("가격".encode(), "iso-8859-1", "가격", "utf-8"),  # UTF-8 declared as Latin-1
        ("가격".encode("cp949"), "utf-8", "가격", "cp949"),  # CP949 declared as UTF-8
        ("가격 문의".encode("cp949"), None, "가격 문의", "cp949"),  # no declaration
        ("Preis: 5 €".encode("cp1252"), "iso-8859-1", "Preis: 5 €", "cp1252"),  # Latin-1 read as its superset
        ("hello 견적".encode("utf-16"), "utf-16", "hello 견적", "utf-16"),
        ("hello 견적".encode("utf-16-le"), None, "hello 견적", "utf-16-le"),
        ("견적".encode("iso2022_kr"), "iso-2022-kr", "견적", "iso2022_kr"),
    ],
)
def test_decode_bytes_reads_declared_and_misdeclared_text(
    data: bytes, declared: str | None, expected: str, codec: str
) -> None:
    assert decode_bytes(data, declared) == (expected, codec)


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (b"\xfd garbage \x80", "utf-8"),
        (b"garbage \x80\x81\xfe", None),
        (b"\xff\xfe\xfd garbage \x80", "utf-8"),  # FF FE looks like a UTF-16 BOM; 13 bytes cannot be UTF-16
    ],
)
def test_decode_bytes_never_raises(data: bytes, declared: str | None) -> None:
    """Undecodable bytes still give text in the codec reported, with their ASCII intact."""
    text, codec = decode_bytes(data, declared)
    assert text == data.decode(codec, "replace").removeprefix("\ufeff")
    assert "garbage" in text


def test_detect_codec_prefers_korean_for_hangul_bytes() -> None:
    assert detect_codec("배송 기간이 얼마나 걸리는지 알려주세요".encode("euc-kr")) == "cp949"
    assert detect_codec(b"plain") == "ascii"
