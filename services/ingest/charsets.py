"""Charset handling for real-world mail: labels as clients write them, detection when they lie.

Python maps the Korean Outlook label ``ks_c_5601-1987`` (and ``euc-kr``) to plain EUC-KR,
which cannot encode the 8,822 extra CP949 syllables (똠, 햏, 똘 …) and silently turns them
into U+FFFD. CP949 is a strict superset of EUC-KR, so both labels decode as CP949 here.
Only text codecs are accepted: an encoded word may name ``unicode_escape`` or ``base64``.
"""

from __future__ import annotations

import codecs
import re
from email.header import Header, decode_header

_KOREAN_LABELS = {
    "ks_c_5601-1987",
    "ks_c_5601_1987",
    "ks_c_5601",
    "ks_c_5601-1989",
    "ksc5601",
    "ksc_5601",
    "ks_c-5601-1987",
    "korean",
    "euc-kr",
    "euc_kr",
    "euckr",
    "x-euc-kr",
    "cp949",
    "ms949",
    "uhc",
    "windows-949",
    "x-windows-949",
    "ks_x_1001",
}
_UNSAFE_CODECS = {"unicode_escape", "raw_unicode_escape", "unicode_internal", "punycode", "idna", "undefined"}
_ALIASES = {
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "default": "",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
}
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
MIN_HANGUL_TO_OVERRULE = 2
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
MAX_HEADER_CHARS = 16 * 1024
"""Longest header value decoded: RFC 2047 decoding (email.header.decode_header) is quadratic in the
number of encoded words, and one 3.5 MB Subject froze ingest for a minute. Real headers are far shorter."""
MAX_ENCODED_WORDS = 1000
"""Most encoded words decoded per header value; the rest of the value is dropped."""


def bound_header(text: str, limit: int = MAX_HEADER_CHARS) -> str:
    """``text`` cut to ``limit`` characters (at a space if there is one in the last half) and to
    :data:`MAX_ENCODED_WORDS` encoded words, so a cut never leaves half an encoded word."""
    if len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit + 1)
        text = text[: cut if cut > 0 else limit]
    for words, found in enumerate(_ENCODED_WORD.finditer(text), start=1):
        if words == MAX_ENCODED_WORDS:
            return text[: found.end()]
    return text


def header_cut_warning(name: str, text: str) -> str | None:
    """The warning for a header that :func:`bound_header` shortens, or None when it is kept whole."""
    if len(text) <= MAX_HEADER_CHARS and bound_header(text) == text:
        return None
    return f"{name} header cut from {len(text)} to at most {MAX_HEADER_CHARS} characters"


def codec_for(label: str | None) -> str | None:
    """The Python codec to use for a declared charset label, or None when unusable or unsafe."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: charset*lang
    if name in _KOREAN_LABELS:
        return "cp949"
    name = _ALIASES.get(name, name)
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _UNSAFE_CODECS:
        return None
    if info.name == "euc_kr":
        return "cp949"
    return info.name


def _hangul_share(text: str) -> float:
    """Share of Hangul among non-ASCII characters: high for correctly decoded Korean."""
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return 0.0
    return sum(1 for c in non_ascii if _HANGUL.match(c)) / len(non_ascii)


def _looks_korean(data: bytes) -> bool:
    """Enough Hangul to overrule a Latin-1 declaration: one byte pair such as '\\xa1T' ('¡T') is not."""
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        return False
    return len(_HANGUL.findall(text)) >= MIN_HANGUL_TO_OVERRULE and _hangul_share(text) > 0.6


def _bom_codec(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _looks_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: every other byte is NUL for mostly-ASCII text."""
    if len(data) < 4 or len(data) % 2:
        return None
    even_nuls = data[0::2].count(0)
    odd_nuls = data[1::2].count(0)
    half = len(data) // 2
    if odd_nuls > 0.4 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.4 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def detect_codec(data: bytes) -> str:
    """Best guess for undeclared or mis-declared bytes; Korean is tried before generic detection."""
    bom = _bom_codec(data) or _looks_utf16(data)
    if bom:
        return bom
    try:
        data.decode("ascii")
        return "ascii"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x1b$)C" in data:
        return "iso2022_kr"
    try:
        if _hangul_share(data.decode("cp949")) > 0.6:
            return "cp949"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
        if best is not None:
            codec = codec_for(best.encoding)
            if codec and not (codec.replace("-", "_").startswith(("utf_16", "utf_32")) and b"\0" not in data):
                return codec
    except Exception:  # noqa: S110 - detection is best effort; the fallback below always works
        pass
    return "cp1252"


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str]:
    """Decode body or parameter bytes; returns (text, codec used). Never raises.

    The declared charset wins when the bytes really are in it. ASCII/Latin-1 declarations
    that hide valid UTF-8 or Korean, and UTF-8/EUC-KR declarations that fail, fall back to
    detection. Anything left undecodable becomes U+FFFD rather than an exception.
    """
    codec = declared_codec = codec_for(declared)
    bom = _bom_codec(data)
    if bom and (
        codec is None or codec.replace("-", "_").startswith(("utf_16", "utf_32", "utf_8", "ascii", "cp1252", "latin"))
    ):
        codec = bom
    if codec in ("ascii", "cp1252", "latin_1", "iso8859_1"):
        guess = detect_codec(data)
        if guess in ("utf-8", "iso2022_kr", "utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-8-sig") or (
            guess == "cp949" and (codec == "ascii" or _looks_korean(data))
        ):
            codec = guess
    for candidate in dict.fromkeys(c for c in (codec, declared_codec) if c):  # a BOM-like start may be a lie
        try:
            return _strip_bom(data.decode(candidate)), candidate
        except (UnicodeDecodeError, LookupError):
            pass
    guess = detect_codec(data)
    try:
        return _strip_bom(data.decode(guess)), guess
    except (UnicodeDecodeError, LookupError):
        # Bytes that fit no codec: keep them in the declared one (or a byte-per-character one), so ASCII survives.
        fallback = declared_codec or "cp1252"
        try:
            return _strip_bom(data.decode(fallback, "replace")), fallback
        except LookupError:
            return data.decode("cp1252", "replace"), "cp1252"


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def decode_header_value(value: object) -> str:
    """RFC 2047 encoded words (B and Q), raw 8-bit headers and folding, decoded with safe codecs.

    ``value`` is what the compat32 parser hands out: a str (8-bit bytes kept as surrogate
    escapes) or an ``email.header.Header``.
    """
    if value is None:
        return ""
    text = _header_text(value)
    if not text:
        return ""
    text = bound_header(re.sub(r"\r?\n[ \t]+", " ", text[: 2 * MAX_HEADER_CHARS]))
    # Adjacent encoded words are joined without the whitespace between them (RFC 2047 §6.2);
    # decode_header wants that whitespace, and some clients omit it.
    text = re.sub(r"\?=(?=[^\s])(?==\?)", "?= ", text)
    try:
        parts = decode_header(text) if _ENCODED_WORD.search(text) else [(text, None)]
    except Exception:
        parts = [(text, None)]
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(_raw_header_text(chunk))
            continue
        out.append(
            decode_bytes(chunk, charset)[0] if charset else _raw_header_text(chunk.decode("ascii", "surrogateescape"))
        )
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _header_text(value: object) -> str:
    """The raw text of a header value; a compat32 ``Header`` holding 8-bit bytes gives them back escaped."""
    if isinstance(value, Header):
        pieces = []
        for chunk, charset in getattr(value, "_chunks", []):
            if str(charset) == "unknown-8bit" and isinstance(chunk, str):
                pieces.append(chunk.encode("utf-8", "surrogateescape").decode("ascii", "surrogateescape"))
            else:
                pieces.append(str(chunk))
        return " ".join(pieces)
    return str(value)


def _raw_header_text(text: str) -> str:
    """A header chunk that may hold raw 8-bit bytes as surrogate escapes: detect their charset."""
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    data = text.encode("ascii", "surrogateescape")
    return decode_bytes(data, None)[0]


def decode_param(value: object) -> str | None:
    """An RFC 2231 parameter (charset, language, value) tuple, a plain string, or an encoded-word string."""
    if value is None:
        return None
    if isinstance(value, tuple):
        charset, _language, raw = value
        text = str(raw)
        try:
            data = text.encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:
            return text  # already decoded (e.g. a broken continuation left replacement characters)
        return decode_bytes(data, charset or "utf-8")[0]
    return decode_header_value(value)
