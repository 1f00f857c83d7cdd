"""Turn one e-mail (raw RFC 5322 bytes or a JSON event) into a :class:`NormalizedMessage`.

This module is the ingest service's public parsing API; the handler and the
``quoteflow normalize`` command only call :func:`normalize_raw` and
:func:`normalize_event`. Errors in the input raise :class:`BadEmail` with a
reason fit for a dead-letter header.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import ClassVar

from services.ingest.settings import IngestSettings
from shared.consumer import PermanentError
from shared.events import Attachment, EmailEvent, Language, NormalizedMessage


class BadEmail(PermanentError):
    """The input is not an e-mail we can normalize; the message says why."""


@dataclass
class IncomingEmail:
    """A normalized message plus what threading needs from its headers."""

    tenant: str
    message: NormalizedMessage
    references: list[str] = field(default_factory=list)
    raw_subject: str = ""


_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|sv|회신|답장|전달|답변)\s*(?:\[\d+\])?\s*[:：]\s*|\[(?:external|외부)\]\s*)+",
    re.IGNORECASE,
)
_QUOTE_HEADERS = re.compile(
    r"^\s*(?:-{2,}\s*Original Message\s*-{2,}|-{2,}\s*원본 메일\s*-{2,}|On .{3,200}wrote:\s*$|.{1,80}님이 작성:\s*$"
    r"|From:\s.+|보낸 사람:\s.+)",
    re.IGNORECASE | re.MULTILINE,
)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LATIN = re.compile(r"[A-Za-z]")


def clean_id(value: str | None) -> str | None:
    """Message-ID without angle brackets or whitespace."""
    if not value:
        return None
    value = value.strip().strip("<>").strip()
    return value or None


def normalize_subject(subject: str) -> str:
    """Subject without reply/forward prefixes and tags, for thread matching."""
    previous = None
    subject = subject or ""
    while previous != subject:
        previous = subject
        subject = _SUBJECT_PREFIX.sub("", subject)
    return re.sub(r"\s+", " ", subject).strip()


def detect_language(text: str) -> Language:
    """ko, en or mixed by the share of Hangul among letters."""
    hangul = len(_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    if hangul == 0 and latin == 0:
        return "en"
    share = hangul / (hangul + latin / 3)
    if share > 0.7:
        return "ko"
    if share < 0.15:
        return "en"
    return "mixed"


class _TextExtractor(HTMLParser):
    """HTML to text that keeps line breaks and table rows (cells separated by ' | ')."""

    BLOCK: ClassVar[set[str]] = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "blockquote", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.parts.append("\n" + " | ".join(self._row) + "\n")
            self._row = None
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        else:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quoted(text: str) -> tuple[str, str | None]:
    """New content only: cut at the first reply header, drop '>' lines and a '-- ' signature."""
    match = _QUOTE_HEADERS.search(text)
    if match:
        text = text[: match.start()]
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    text = "\n".join(lines)
    signature = None
    sig = re.search(r"^-- ?$", text, re.MULTILINE)
    if sig:
        signature = text[sig.end() :].strip() or None
        text = text[: sig.start()]
    return text.strip(), signature


def content_hash(sender: str | None, date: datetime | None, text: str) -> str:
    digest = hashlib.sha256()
    digest.update((sender or "").lower().encode())
    digest.update(b"\0" + (date.isoformat() if date else "").encode())
    digest.update(b"\0" + re.sub(r"\s+", " ", text).strip().encode())
    return digest.hexdigest()[:32]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _build(
    *,
    tenant: str,
    message_id: str | None,
    in_reply_to: str | None,
    references: list[str],
    sender: str,
    to: list[str],
    cc: list[str],
    subject: str,
    date: datetime | None,
    body: str,
    attachments: list[Attachment],
    settings: IngestSettings,
    arrival: int,
) -> IncomingEmail:
    name, address = parseaddr(sender)
    if not address and not name:
        raise BadEmail("missing From header")
    text, signature = strip_quoted(body)
    date = _aware(date)
    digest = content_hash(address, date, text)
    message = NormalizedMessage(
        message_id=clean_id(message_id) or f"generated-{digest}",
        in_reply_to=clean_id(in_reply_to),
        sender_name=name or None,
        sender_email=address.lower() or None,
        to=[a.lower() for _, a in getaddresses(to) if a],
        cc=[a.lower() for _, a in getaddresses(cc) if a],
        role="supplier" if _is_own(address, settings) else "unknown",
        date=date,
        subject=subject,
        language=detect_language(text),
        text=text,
        signature=signature,
        attachments=attachments,
        content_hash=digest,
        arrival=arrival,
    )
    refs = [r for r in (clean_id(x) for x in [*references, in_reply_to or ""]) if r]
    return IncomingEmail(tenant=tenant, message=message, references=list(dict.fromkeys(refs)), raw_subject=subject)


def _is_own(address: str, settings: IngestSettings) -> bool:
    domain = address.rpartition("@")[2].lower()
    return bool(domain) and domain in {d.lower() for d in settings.own_domains}


def _body_and_attachments(msg: EmailMessage, settings: IngestSettings) -> tuple[str, list[Attachment]]:
    attachments: list[Attachment] = []
    plain: str | None = None
    html: str | None = None
    for count, part in enumerate(msg.walk()):
        if count >= settings.max_mime_parts:
            break
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        if disposition == "attachment" or not ctype.startswith("text/"):
            payload = part.get_payload(decode=True) or b""
            attachments.append(Attachment(filename=part.get_filename(), content_type=ctype, size=len(payload)))
            continue
        try:
            content = part.get_content()
        except (LookupError, UnicodeError):
            payload = part.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if ctype == "text/plain" and plain is None:
            plain = str(content)
        elif ctype == "text/html" and html is None:
            html = str(content)
    if plain is not None and plain.strip():
        return plain, attachments
    if html is not None:
        return html_to_text(html), attachments
    return plain or "", attachments


def normalize_raw(
    raw: bytes, settings: IngestSettings, *, tenant: str | None = None, arrival: int = 0
) -> IncomingEmail:
    """Parse RFC 5322 bytes; raise :class:`BadEmail` when they are not an e-mail."""
    if len(raw) > settings.max_email_bytes:
        raise BadEmail(f"message of {len(raw)} bytes exceeds the limit of {settings.max_email_bytes}")
    if not raw.strip():
        raise BadEmail("empty message")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(msg, EmailMessage) or (msg["From"] is None and msg["Message-ID"] is None):
        raise BadEmail("not an RFC 5322 message: no From or Message-ID header")
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    body, attachments = _body_and_attachments(msg, settings)
    return _build(
        tenant=tenant or settings.tenant,
        message_id=str(msg["Message-ID"] or "") or None,
        in_reply_to=str(msg["In-Reply-To"] or "") or None,
        references=str(msg["References"] or "").split(),
        sender=str(msg["From"] or ""),
        to=[str(msg["To"] or "")],
        cc=[str(msg["Cc"] or "")],
        subject=str(msg["Subject"] or ""),
        date=date,
        body=body,
        attachments=attachments,
        settings=settings,
        arrival=arrival,
    )


def normalize_event(event: EmailEvent, settings: IngestSettings, *, arrival: int = 0) -> IncomingEmail:
    """Normalize a JSON e-mail event (already MIME-decoded by the integration)."""
    body = event.text if event.text and event.text.strip() else html_to_text(event.html or "")
    return _build(
        tenant=event.tenant,
        message_id=event.message_id,
        in_reply_to=event.in_reply_to,
        references=event.references,
        sender=event.from_,
        to=event.to,
        cc=event.cc,
        subject=event.subject,
        date=event.date,
        body=body,
        attachments=event.attachments,
        settings=settings,
        arrival=arrival,
    )
