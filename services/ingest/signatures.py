"""Cutting signatures, mobile footers and disclaimers off the end of a message, and the sender's company.

A signature is found from the bottom up, within the last lines of the text: the RFC 3676
``-- `` delimiter, a legal disclaimer paragraph, a "Sent from my iPhone" / "iPhone에서 보냄"
footer, or a block that starts at a closing phrase (Best regards, 감사합니다), the sender's
own name, or a separator rule, and holds only signature-like lines (names, titles, company,
phone, e-mail, URL, address) — never a sentence or a price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_DELIMITER = re.compile(r"^--\s*$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent from my \w+|sent from (?:outlook|mail|yahoo mail|samsung)\b.*|sent with \w+.*|get outlook for \w+.*"
    r"|sent from mail for windows.*|(?:iphone|ipad|galaxy|갤럭시|android|안드로이드|모바일|휴대폰|스마트폰)"
    r"[^\n]{0,30}(?:에서\s*)?(?:보냄|보냈습니다|발송)[.!]?|네이버\s*메일\s*앱에서\s*보냄.*|outlook\s*(?:for|용)\s*\w+.*(?:보냄|다운로드).*"
    r"|mobile에서 작성된 메일입니다\.?)\s*$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^\s*(?:[*※\-=]+\s*)?(?:confidentiality notice|disclaimer|legal notice|privileged (?:and|&) confidential"
    r"|this (?:e-?mail|message|communication)(?: and any (?:files|attachments?)[^.]{0,40})?"
    r" (?:is|are|may contain|contains)"
    r"[^.]{0,40}(?:confidential|privileged|intended)|the information (?:contained )?in this (?:e-?mail|message)"
    r"|if you (?:are not|have received this (?:e-?mail|message) in error)"
    r"|이 메일은.{0,40}(?:기밀|비밀|수신인|발송|보안)"
    r"|본 (?:메일|이메일|전자우편)(?:과 첨부)?.{0,40}(?:기밀|비밀|수신|발송|정보|보호|법적)"
    r"|※\s*본 메일|\[?면책 ?조항|개인정보 ?보호)",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*(?:(?:best|kind|warm|warmest|many thanks and|with best|with kind)?\s*regards|regards|rgds|br|best|cheers"
    r"|thanks(?: (?:and|&) (?:best )?regards)?|thank you(?: (?:and|&) (?:best )?regards)?|many thanks|thanks a lot"
    r"|sincerely|yours sincerely|yours truly|yours faithfully|respectfully|best wishes|all the best"
    r"|감사합니다|고맙습니다|감사드립니다|수고하세요|수고하십시오"
    r"|잘 부탁드립니다|잘부탁드립니다|부탁드립니다|이상입니다"
    r"|좋은 하루 (?:되세요|보내세요)|감사합니다\s*\^\^|с уважением|mit freundlichen grüßen|cordialement|saludos)"
    r"\s*[,.!~^]*\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*(?:[-_=*~]{4,}|[-_=*~ ]{8,})\s*$")
_PHONE = re.compile(
    r"(?:\+?\d{1,3}[\s.\-)]*)?\(?\d{2,4}\)?[\s.\-]?\d{3,4}[\s.\-]\d{4}|"
    r"\b(?:tel|phone|mobile|mob|cell|fax|direct|hp|h\.p|t|m|f|p)\s*[.:)]\s*\+?[\d(]"
    r"|(?:전화|휴대폰|휴대전화|핸드폰|팩스|직통|대표번호|연락처)\s*[:.]?\s*[\d+(]",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w\-]+\.(?:com|co\.kr|kr|net|org|io)\b", re.IGNORECASE)
_COMPANY = re.compile(
    r"(?:\bco\.?,?\s*ltd\b|\bltd\b|\binc\b|\bcorp(?:oration)?\b|\bllc\b|\bgmbh\b|\bplc\b|\bs\.a\.|\bk\.k\."
    r"|\bcompany\b|\bindustries\b|\btrading\b|\bsupply\b|\bsolutions\b|\bparts\b|\belectronics\b|\bgroup\b"
    r"|\bresearch\b|주식회사|\(주\)|㈜|유한회사|상사|무역|부품|산업|전자|기업|물산|테크|코리아|솔루션|엔지니어링)",
    re.IGNORECASE,
)
_TITLE = re.compile(
    r"\b(?:president|vice president|vp|ceo|cto|cfo|coo|director|manager|engineer|sales|purchasing|procurement"
    r"|buyer|head of|team lead|officer|representative|executive|assistant|specialist|ph\.?d|mba)\b"
    r"|(?:대표이사|대표|사장|부사장|전무|상무|이사|본부장|실장|부장|차장|과장|대리|주임|사원|팀장|파트장|매니저|선임|책임|수석"
    r"|연구원|구매팀|영업팀|영업부|구매부|해외영업|국내영업|담당)",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    r"\d+\s*(?:번길|로|길|동|층|호)\b|(?:서울|부산|인천|대구|대전|광주|울산|경기|seoul|busan|korea)\b|\b\d{5}(?:-\d{4})?\b"
    r"|\b(?:street|st\.|road|rd\.|avenue|ave\.|suite|floor|building|bldg)\b",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"(?:[$€£¥₩]\s*\d|\d[\d,.]*\s*(?:원|만원|억|달러|엔|usd|krw|eur|jpy|cny|won)\b|\b(?:usd|krw|eur|jpy)\s*\d)",
    re.IGNORECASE,
)
_KOREAN_SENTENCE_END = re.compile(
    r"(?:니다|어요|아요|해요|세요|네요|군요|까요|죠|에요|예요|래요|데요|습니까)[.!?~]*\s*$"
)
_MARKERS = ("phone", "email", "url", "company", "title", "address")
MAX_SIGNATURE_LINES = 14


@dataclass
class SignatureSplit:
    """Text without its trailing signature, and the signature (None when there was none)."""

    text: str
    signature: str | None


_CACHED_LINE_CHARS = 200


def line_markers(line: str) -> frozenset[str]:
    """Which signature features a line has (phone, email, url, company, title, address).

    Short lines are cached: each is asked about several times, and signatures repeat from
    mail to mail (long lines are not, so the cache stays small whatever the input).
    """
    return _cached_line_markers(line) if len(line) <= _CACHED_LINE_CHARS else _line_markers(line)


@lru_cache(maxsize=8192)
def _cached_line_markers(line: str) -> frozenset[str]:
    return _line_markers(line)


def _line_markers(line: str) -> frozenset[str]:
    found: set[str] = set()
    if _PHONE.search(line):
        found.add("phone")
    if _EMAIL.search(line):
        found.add("email")
    if _URL.search(line):
        found.add("url")
    if _COMPANY.search(line):
        found.add("company")
    if _TITLE.search(line):
        found.add("title")
    if _ADDRESS.search(line) and len(line) < 90:
        found.add("address")
    return frozenset(found)


def _is_sentence(line: str) -> bool:
    text = line.strip()
    if line_markers(text) & {"phone", "email", "url", "company"}:
        return False
    if text.endswith(("?", "？")):
        return True
    if _KOREAN_SENTENCE_END.search(text):
        return True
    words = text.split()
    return (text.endswith((".", "!")) and len(words) >= 5) or len(words) > 9


def _name_tokens(sender_name: str | None, sender_email: str | None) -> set[str]:
    tokens: set[str] = set()
    for part in re.split(r"[\s,./|()\-]+", sender_name or ""):
        if len(part) >= 2:
            tokens.add(part.lower())
    local = (sender_email or "").partition("@")[0]
    for part in re.split(r"[._\-+\d]+", local):
        if len(part) >= 3:
            tokens.add(part.lower())
    return tokens


def _is_name_line(line: str, sender_name: str | None, tokens: set[str]) -> bool:
    text = line.strip().strip("-–—~*").strip()
    if not text or len(text) > 50:
        return False
    if sender_name and len(sender_name) >= 2 and sender_name.lower() in text.lower() and len(text.split()) <= 6:
        return True
    words = [w for w in re.split(r"[\s,]+", text) if w]
    if not words or len(words) > 5:
        return False
    first = re.sub(r"\W+", "", words[0]).lower()
    last = re.sub(r"\W+", "", words[-1]).lower()
    return bool(first in tokens or (len(words) > 1 and last in tokens and words[0].lower() in ("me", "from")))


def _is_signature_line(line: str) -> bool:
    text = line.strip()
    if not text:
        return True
    if _PRICE.search(text) and not line_markers(text) & {"phone"}:
        return False
    if len(text) > 80:
        return False
    return not _is_sentence(text)


def _signature_start(lines: list[str], sender_name: str | None, sender_email: str | None) -> int | None:
    """Index of the first line of a trailing signature block, or None."""
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    if len(nonblank) < 2:
        return None
    window = nonblank[-MAX_SIGNATURE_LINES:]
    tokens = _name_tokens(sender_name, sender_email)
    signature_like = [_is_signature_line(lines[i]) for i in window]
    strong_marks = [bool(line_markers(lines[i]) & {"phone", "email", "url"}) for i in window]
    for position, start in enumerate(window):
        if position == 0 and start == nonblank[0]:
            continue  # the whole text cannot be a signature
        if not all(signature_like[position + 1 :]):
            continue
        first = lines[start]
        if _CLOSING.match(first) or _SEPARATOR.match(first):
            return start
        if signature_like[position] and _is_name_line(first, sender_name, tokens):
            return start
        previous_blank = start == 0 or not lines[start - 1].strip()
        strong = sum(strong_marks[position:])
        if previous_blank and strong >= 2 and signature_like[position] and strong * 2 >= len(window) - position:
            return start
    return None


def split_signature(text: str, sender_name: str | None = None, sender_email: str | None = None) -> SignatureSplit:
    """Remove a trailing signature, mobile footer or disclaimer; the removed lines come back as ``signature``."""
    lines = text.rstrip().split("\n")
    cut: int | None = None
    # A disclaimer paragraph, and everything after it, is never new content.
    for i, line in enumerate(lines):
        if i > 0 and _DISCLAIMER.match(line):
            cut = i
            break
    head = lines[:cut] if cut is not None else lines
    # The RFC 3676 delimiter, when it is near the end.
    for i, line in enumerate(head):
        if i > 0 and _DELIMITER.match(line) and len([x for x in head[i:] if x.strip()]) <= MAX_SIGNATURE_LINES + 1:
            cut = i
            break
    head = lines[:cut] if cut is not None else lines
    # A mobile footer in the last lines.
    tail_start = max(1, len(head) - 6)
    for i in range(tail_start, len(head)):
        if _MOBILE_FOOTER.match(head[i]):
            cut = i
            break
    head = lines[:cut] if cut is not None else lines
    while head and not head[-1].strip():
        head = head[:-1]
    start = _signature_start(head, sender_name, sender_email)
    if start is not None:
        cut = start
    if cut is None:
        return SignatureSplit(text=text.strip(), signature=None)
    body = "\n".join(lines[:cut]).strip()
    signature = "\n".join(lines[cut:]).strip()
    if not body:
        return SignatureSplit(text=text.strip(), signature=None)
    return SignatureSplit(text=body, signature=signature or None)


_DISPLAY_SPLIT = re.compile(r"\s*(?:/|\||·|,\s*(?=[^,]*(?:주식회사|\(주\)|㈜|co\.|ltd|inc|corp)))\s*", re.IGNORECASE)


def split_display_name(display: str | None) -> tuple[str | None, str | None]:
    """'박준호 / 대양부품' → ('박준호', '대양부품'); 'Junho Park (Daeyang Parts)' → ('Junho Park', 'Daeyang Parts')."""
    if not display:
        return None, None
    text = display.strip().strip("\"'").strip()
    match = re.match(r"^(?P<name>[^()\[\]]+?)\s*[(\[](?P<company>[^()\[\]]+)[)\]]\s*$", text)
    if match and not _EMAIL.search(match.group("company")):
        return match.group("name").strip() or None, _clean_company(match.group("company"))
    parts = [p for p in _DISPLAY_SPLIT.split(text) if p]
    if len(parts) == 2:
        name, company = parts
        if _COMPANY.search(name) and not _COMPANY.search(company):
            name, company = company, name
        return name.strip() or None, _clean_company(company)
    return text or None, None


def _clean_company(value: str | None) -> str | None:
    if not value:
        return None
    value = re.sub(r"\s+", " ", value).strip(" ,-|/")
    if not value or sum(c.isdigit() for c in value) >= 5 or _EMAIL.search(value) or _URL.search(value):
        return None
    return value[:80]


def company_from_signature(signature: str | None, sender_name: str | None, sender_email: str | None) -> str | None:
    """The company line of a signature block: a line with a company form (Co., Ltd., ㈜, 무역 …), else the line
    right after the sender's name when it is not a title, phone, address or URL. Never a phone number."""
    if not signature:
        return None
    lines = [line.strip().strip("-–—*").strip() for line in signature.split("\n") if line.strip()]
    lines = [line for line in lines if not _CLOSING.match(line) and not _SEPARATOR.match(line)]
    for line in lines:
        markers = line_markers(line)
        if "company" in markers and not markers & {"phone", "email"} and len(line) <= 60:
            inline = re.search(r"(?:^|\s)(?:at|@|/|\|)\s*(.+)$", line)
            return _clean_company(_strip_name_and_title(line, sender_name) or (inline.group(1) if inline else line))
    tokens = _name_tokens(sender_name, sender_email)
    for index, line in enumerate(lines[:-1]):
        if _is_name_line(line, sender_name, tokens):
            candidate = lines[index + 1]
            if not line_markers(candidate) and len(candidate) <= 40 and not _is_sentence(candidate):
                return _clean_company(candidate)
    return None


def _strip_name_and_title(line: str, sender_name: str | None) -> str:
    text = line
    if sender_name:
        text = text.replace(sender_name, " ")
    text = re.sub(r"\s*(?:/|\|)\s*", " ", text)
    words = [w for w in text.split() if not _TITLE.fullmatch(w)]
    return " ".join(words).strip()
