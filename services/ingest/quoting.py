"""Separating a message's new content from quoted history and forwarded messages.

Clients mark history in a handful of ways, in Korean and English:

- a separator line: ``-----Original Message-----``, ``----- 원본 메일 -----``, Outlook's
  ``________________`` rule, an HTML reply container (:data:`html_text.QUOTE_CUT`);
- a header block: ``From: / Sent: / To: / Subject:`` or ``보낸 사람: / 보낸 날짜: / 받는 사람: / 제목:``
  (Outlook, Naver, Daum, Hiworks);
- an attribution line before ``>`` quoting: ``On … wrote:``, ``… 님이 작성:``, ``… написал:``;
- ``>`` quoting alone (kept text between quoted blocks is an inline reply and stays).

Forwarded content is not history: ``---------- Forwarded message ---------``, ``Begin forwarded
message:``, ``전달된 메시지`` — and a header block in a message whose subject is a forward
(FW:/Fwd:/전달:) — is returned as :class:`ForwardedBlock` with its own sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.ingest.html_text import QUOTE_CUT

_FORWARD_LINE = re.compile(
    r"^[\s>]*(?:[-=_*]{2,}\s*)?(?:forwarded message|forwarded e-?mail|forwarded mail|weitergeleitete nachricht"
    r"|message transféré|전달된 메시지|전달된 메일|전달 메시지|전달 메일"
    r"|전달한 메시지|전달된 편지)\s*(?:[-=_*]{2,})?\s*$"
    r"|^\s*(?:begin forwarded message|전달된 메일|전달된 메시지|전달 메시지 시작|anfang der weitergeleiteten nachricht)"
    r"\s*[:：]\s*$",
    re.IGNORECASE,
)
_ORIGINAL_LINE = re.compile(
    r"^[\s>]*[-=_*]{2,}\s*(?:original message|original e-?mail|reply message|원본 메일|원본 메시지|원래 메시지"
    r"|원문 메시지|원본메일|ursprüngliche nachricht|message d'origine|исходное сообщение|исходное письмо)"
    r"\s*[-=_*]*\s*$",
    re.IGNORECASE,
)
_RULE_LINE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_KEYS = {
    "from": "from",
    "sent": "date",
    "date": "date",
    "to": "to",
    "cc": "cc",
    "bcc": "cc",
    "subject": "subject",
    "reply-to": "other",
    "importance": "other",
    "보낸 사람": "from",
    "보낸사람": "from",
    "발신자": "from",
    "발신": "from",
    "보낸 날짜": "date",
    "보낸날짜": "date",
    "보낸 시간": "date",
    "보낸시간": "date",
    "날짜": "date",
    "일시": "date",
    "받는 사람": "to",
    "받는사람": "to",
    "수신자": "to",
    "수신": "to",
    "참조": "cc",
    "숨은참조": "cc",
    "제목": "subject",
    "от": "from",
    "отправлено": "date",
    "дата": "date",
    "кому": "to",
    "копия": "cc",
    "тема": "subject",
    "von": "from",
    "gesendet": "date",
    "an": "to",
    "betreff": "subject",
    "de": "from",
    "envoyé": "date",
    "à": "to",
    "objet": "subject",
}
_HEADER_LINE = re.compile(
    r"^\s*\*?\s*(?P<key>" + "|".join(sorted((re.escape(k) for k in _HEADER_KEYS), key=len, reverse=True)) + r")"
    r"\s*\*?\s*[:：]\s*\*?\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r"^[\s\-]*(?:on|le|am|el|il|em|op|w dniu)\b.{0,250}?(?:wrote|writes|a écrit|schrieb|escribió|ha scritto"
    r"|escreveu|schreef|napisał)\s*[:：]\s*$"
    r"|^.{0,250}님이\s*(?:작성|쓴\s*글|보낸\s*메시지|쓰신\s*글|쓰셨습니다)[^:：]{0,12}[:：]?\s*$"
    r"|^.{0,250}(?:написал|написала|пишет|wrote|writes)\s*[:：]\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:on|le|am|el|il|em|op|w dniu)\b|^\s*\d|^\s*[\"'<(]|^\s*\S+@\S+|^\s*20\d\d",
    re.IGNORECASE,
)
_DATE_OR_TIME = re.compile(r"\d{1,2}:\d{2}|\d{4}[./\-년]|\d{1,2}[./]\d{1,2}[./]\d{2,4}")
_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{1,40}\]\s*)*(?:fw|fwd|tr|wg|rv|enc|전달|转发|轉寄)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE
)


@dataclass
class ForwardedBlock:
    """A forwarded message found in a body: its header lines (from, date, subject, to, cc) and its text."""

    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass
class ReplySplit:
    """A body split into the author's new text, the history it quoted, and forwarded messages."""

    text: str
    quoted: str = ""
    forwarded: list[ForwardedBlock] = field(default_factory=list)


def is_forward_subject(subject: str) -> bool:
    """The subject's outermost prefix is a forward (FW:, Fwd:, 전달:), not a reply."""
    return bool(_FORWARD_SUBJECT.match(subject or ""))


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _header_key(line: str) -> str | None:
    match = _HEADER_LINE.match(line)
    if not match:
        return None
    return _HEADER_KEYS[match.group("key").lower()]


def _header_block_at(lines: list[str], start: int) -> int:
    """Length of the header block starting at ``start`` (0 when there is none).

    A block is two or more header lines, one of them a sender line and one a date, recipient
    or subject line, with at most one wrapped continuation line each.
    """
    keys: list[str] = []
    index = start
    continuation = 0
    while index < len(lines) and index - start < 12:
        line = lines[index]
        key = _header_key(line)
        if key:
            keys.append(key)
            continuation = 0
        elif line.strip() and keys and continuation == 0 and not _is_quoted(line):
            continuation += 1
        else:
            break
        index += 1
    if "from" in keys and len({k for k in keys if k != "other"}) >= 2 and keys[0] in ("from", "date", "to", "subject"):
        return index - start
    return 0


def _attribution_at(lines: list[str], index: int) -> int:
    """Lines (1-3) of an ``On … wrote:`` style attribution ending at ``index``, else 0."""
    if not lines[index].rstrip().endswith((":", "：", "작성", "쓰셨습니다")):
        return 0  # cheap pre-check: every attribution ends like this
    for size in (3, 2, 1):
        first = index - size + 1
        if first < 0 or any(not lines[i].strip() or _is_quoted(lines[i]) for i in range(first, index + 1)):
            continue
        joined = " ".join(lines[i].strip() for i in range(first, index + 1))
        if _ATTRIBUTION.match(joined) and (size == 1 or _ATTRIBUTION_START.match(lines[first])):
            return size
    return 0


def _loose_attribution_at(lines: list[str], index: int) -> int:
    """An attribution without a known verb, right before a quote: ends with ':' and names an address or time."""
    if not lines[index].rstrip().endswith((":", "：")):
        return 0
    for size in (3, 2, 1):
        first = index - size + 1
        if first < 0 or any(not lines[i].strip() or _is_quoted(lines[i]) for i in range(first, index + 1)):
            continue
        joined = " ".join(lines[i].strip() for i in range(first, index + 1))
        if (
            joined.endswith((":", "："))
            and len(joined) < 300
            and ("@" in joined or _DATE_OR_TIME.search(joined))
            and (size == 1 or _ATTRIBUTION_START.match(lines[first]))
        ):
            return size
    return 0


def _next_nonblank(lines: list[str], index: int) -> int | None:
    for i in range(index, len(lines)):
        if lines[i].strip():
            return i
    return None


def _find_cut(lines: list[str], forward: bool) -> tuple[int, str, int] | None:
    """First point where the rest is history or a forwarded message: (line, kind, header line)."""
    for i, line in enumerate(lines):
        if _is_quoted(line):
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == QUOTE_CUT:
            return i, "forward" if forward else "quote", i + 1
        if _FORWARD_LINE.match(line):
            return i, "forward", i + 1
        if _ORIGINAL_LINE.match(line):
            return i, "forward" if forward else "quote", i + 1
        if _RULE_LINE.match(line):
            following = _next_nonblank(lines, i + 1)
            if following is not None and _header_block_at(lines, following):
                return i, "forward" if forward else "quote", following
        if _header_block_at(lines, i):
            return i, "forward" if forward else "quote", i
        size = _attribution_at(lines, i)
        if size:
            following = _next_nonblank(lines, i + 1)
            if following is None or not _is_quoted(lines[following]):
                return i - size + 1, "quote", i + 1
    return None


def _drop_quoted(lines: list[str]) -> tuple[list[str], list[str]]:
    """Remove '>' lines and the attribution right above each quoted block; keep inline replies."""
    kept: list[str] = []
    quoted: list[str] = []
    in_block = False
    for line in lines:
        if not _is_quoted(line):
            if line.strip():
                in_block = False
            kept.append(line)
            continue
        if not in_block:
            end = len(kept) - 1
            while end >= 0 and not kept[end].strip():
                end -= 1
            size = (_attribution_at(kept, end) or _loose_attribution_at(kept, end)) if end >= 0 else 0
            if size:
                quoted.extend(kept[end - size + 1 : end + 1])
                del kept[end - size + 1 :]
        in_block = True
        quoted.append(line)
    return kept, quoted


def _parse_forward(lines: list[str], start: int) -> ForwardedBlock:
    """Header lines at ``start`` (after the separator) become the forwarded message's headers."""
    index = _next_nonblank(lines, start)
    headers: dict[str, str] = {}
    if index is None:
        return ForwardedBlock()
    last_key: str | None = None
    while index < len(lines):
        line = lines[index]
        match = _HEADER_LINE.match(line)
        if match:
            last_key = _HEADER_KEYS[match.group("key").lower()]
            if last_key not in headers:
                headers[last_key] = match.group("value").strip()
        elif line.strip() and last_key and headers and index > 0 and _HEADER_LINE.match(lines[index - 1]):
            headers[last_key] = (headers[last_key] + " " + line.strip()).strip()
        else:
            break
        index += 1
    body = "\n".join(lines[index:]).strip("\n")
    return ForwardedBlock(headers={k: v for k, v in headers.items() if k != "other"}, body=body)


def split_reply(text: str, *, forward: bool = False) -> ReplySplit:
    """New content of a plain-text body; ``forward`` says the subject marks the message as a forward."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _find_cut(lines, forward)
    forwarded: list[ForwardedBlock] = []
    history: list[str] = []
    if cut is not None:
        index, kind, header_start = cut
        if kind == "forward":
            forwarded.append(_parse_forward(lines, header_start))
        else:
            history = lines[index:]
        lines = lines[:index]
    kept, quoted = _drop_quoted(lines)
    new_text = "\n".join(line.rstrip() for line in kept)
    new_text = re.sub(r"\n{3,}", "\n\n", new_text).strip("\n")
    new_text = "\n".join(line for line in new_text.split("\n") if line.strip() != QUOTE_CUT)
    return ReplySplit(text=new_text.strip(), quoted="\n".join(quoted + history).strip(), forwarded=forwarded)
