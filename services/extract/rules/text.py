"""Message layout: where the body ends and the signature starts, and the clauses facts are read from."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.extract.rules.terms import INJECTION, QUESTION_ENDING
from shared.events import NormalizedMessage, Role

_CLOSING_WORDS = (
    r"(?:best(?: regards| wishes)?|kind regards|warm regards|regards|many thanks|thanks(?: and regards| again| a lot)?|thank you(?: very much)?"
    r"|sincerely|yours(?: sincerely| faithfully| truly)?|cheers|respectfully|br|with best regards|rgds|tks"
    r"|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße|cordialement|bien cordialement|salutations"
    r"|saludos(?: cordiales)?|un saludo|atentamente|cordiali saluti|distinti saluti|met vriendelijke groet(?:en)?|med vänliga hälsningar"
    r"|감사합니다|고맙습니다|감사드립니다|잘 부탁드립니다|수고하세요|이만 줄입니다|좋은 하루 되세요)"
)
CLOSING = re.compile(rf"^\s*{_CLOSING_WORDS}(?:\s?/\s?{_CLOSING_WORDS})*[\s,.!]*$", re.I)
"""A sign-off line, in English, Korean or another European language, or two of them ('Mit freundlichen Grüßen /
Kind regards')."""
NAME_LINE = re.compile(
    r"^\s*(?:-\s?)?(?:[가-힣]{2,4}(?:\s?(?:드림|올림|배상|과장|부장|대리|팀장|차장|이사|대표|사원|주임|매니저|실장|상무|전무|사장))?"
    r"|[A-Z][a-z]+(?:[ -][A-Z][a-z.]+){0,2})\s*$"
)
_SENTENCE_END = re.compile(
    r"(?<![A-Z][a-z])(?<!\b(?:No|Co|co|vs|Mr|Ms|Dr|St|Rd|Jr))(?<!\bInc|\bLtd|\bapp)(?<!\bexcl)(?<!\bincl)(?<!\bqty)(?<!\bref)(?<!\bpcs)(?<!\bapprox)[.!?。]+(?=\s|$)|(?<=[?!])(?=[가-힣A-Za-z])"
)
_BULLET = re.compile(r"^\s*(?:[-*•·▪◦►]|\d{1,2}[.)]|[①-⑳]|[a-zA-Z][.)])\s+")


@dataclass
class Clause:
    """A sentence, list line or table row of a message, with its flags."""

    start: int
    end: int
    text: str
    kind: Literal["prose", "list", "table"]
    question: bool
    injection: bool
    paragraph: int


@dataclass
class MessageView:
    """One message (or a forwarded message inside one) as the engine reads it."""

    message_id: str
    text: str
    role: Role
    sender_name: str | None
    sender_email: str | None
    sender_company: str | None
    date: datetime | None
    language: str
    subject: str
    body_end: int
    signature: str
    base: int = 0
    index: int = 0
    clauses: list[Clause] = field(default_factory=list)
    source: NormalizedMessage | None = None
    attachment: int | None = None
    """Index into ``source.attachment_parts`` when this view reads an attachment part (see rules/attachments.py)."""
    default_currency: str | None = None
    """Currency of the view's tables when their cells carry none (an attachment's stated currency)."""

    @property
    def body(self) -> str:
        return self.text[self.base : self.body_end]


def _lines(text: str) -> list[tuple[int, str]]:
    out = []
    offset = 0
    for line in text.split("\n"):
        out.append((offset, line))
        offset += len(line) + 1
    return out


def find_body_end(text: str, start: int = 0, sender_name: str | None = None) -> int:
    """Offset where the sign-off/signature starts (len(text) when there is none)."""
    lines = [(o, line) for o, line in _lines(text) if o >= start]
    if not lines:
        return len(text)
    tail = lines[-12:]
    for offset, line in tail:
        if CLOSING.match(line) and offset > start:
            return offset
    paragraphs: list[list[tuple[int, str]]] = [[]]
    for offset, line in lines:
        if line.strip():
            paragraphs[-1].append((offset, line))
        elif paragraphs[-1]:
            paragraphs.append([])
    last = paragraphs[-1] or (paragraphs[-2] if len(paragraphs) > 1 else [])
    if not last or len(paragraphs) < 2 or last is paragraphs[0]:
        return len(text)
    first_token = (sender_name or "").split()[0] if sender_name and sender_name.split() else None
    looks_like_signature = len(last) <= 8 and all(
        all(len(part.strip()) <= 60 for part in line.split(" | "))  # 'Company Ltd | address | phone'
        and not re.search(r"(?:[^A-Z][a-z]{2,}|다|요)[.!?]\s*$|[?]\s*$", line.strip())
        for _, line in last
    )
    first_line = last[0][1].strip()
    name_like = bool(NAME_LINE.match(first_line)) or bool(first_token and first_token in first_line)
    if looks_like_signature and name_like:
        return last[0][0]
    return len(text)


def split_clauses(text: str, start: int, end: int) -> list[Clause]:
    """Sentences, list items and table rows between start and end, flagged for questions and injected text."""
    clauses: list[Clause] = []
    paragraph = 0
    poisoned_paragraph = -1
    for offset, line in _lines(text):
        line_end = offset + len(line)
        if line_end <= start or offset >= end:
            continue
        if not line.strip():
            paragraph += 1
            continue
        line = line[: max(0, end - offset)]
        if line.count("|") >= 1 and len([c for c in line.split("|") if c.strip()]) >= 2:
            pieces = [(offset, line, "table")]
        elif _BULLET.match(line):
            pieces = [(offset, line, "list")]
        else:
            pieces = []
            cursor = 0
            for match in _SENTENCE_END.finditer(line):
                pieces.append((offset + cursor, line[cursor : match.end()], "prose"))
                cursor = match.end()
            if cursor < len(line):
                pieces.append((offset + cursor, line[cursor:], "prose"))
        for piece_start, piece, kind in pieces:
            stripped = piece.strip()
            if not stripped:
                continue
            lead = len(piece) - len(piece.lstrip())
            injected = bool(INJECTION.search(stripped))
            if injected:
                poisoned_paragraph = paragraph
            clauses.append(
                Clause(
                    start=piece_start + lead,
                    end=piece_start + lead + len(stripped),
                    text=stripped,
                    kind=kind,  # type: ignore[arg-type]
                    question=bool(QUESTION_ENDING.search(stripped)),
                    injection=injected or paragraph == poisoned_paragraph,
                    paragraph=paragraph,
                )
            )
    return clauses


_FORWARD_MARK = re.compile(
    r"^[ \t>]*(?:-{3,}\s?(?:Forwarded message|Original Message|전달된 메시지|원본 메시지|원본 메일)\s?-{3,}|Begin forwarded message:)[ \t]*$",
    re.I | re.M,
)
_HEADER_LINE = re.compile(
    r"^[ \t>]*(From|보낸 ?사람|Date|Sent|보낸 ?날짜|날짜|Subject|제목|To|받는 ?사람|Cc|참조)\s?:\s?(.*)$", re.I
)


def split_inline_forwards(text: str) -> list[tuple[int, dict[str, str]]]:
    """Blocks of forwarded mail inside a text: (offset of the forwarded body, its header fields)."""
    blocks = []
    for mark in _FORWARD_MARK.finditer(text):
        headers: dict[str, str] = {}
        cursor = mark.end() + 1
        for offset, line in _lines(text[cursor:]):
            header = _HEADER_LINE.match(line)
            if header:
                key = header.group(1).lower().replace(" ", "")
                key = {"보낸사람": "from", "sent": "date", "보낸날짜": "date", "날짜": "date", "제목": "subject"}.get(
                    key, key
                )
                headers[key] = header.group(2).strip()
                continue
            if not line.strip() and not headers:
                continue
            if not line.strip() or headers:
                blocks.append((cursor + offset, headers))
                break
        else:
            blocks.append((len(text), headers))
    return blocks
