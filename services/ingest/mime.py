"""MIME structure to body text, attachment metadata and forwarded messages, within hard limits.

The message is parsed with the ``compat32`` policy, which hands out raw header strings, so
every header and body is decoded by :mod:`services.ingest.charsets` (CP949 for Korean labels,
text codecs only, detection when the declaration is wrong) instead of the stdlib's defaults.
The walk counts parts and nesting depth: an attached message inside an attached message …
stops at the configured limits with a warning instead of exploding.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from services.ingest.attachments.readers import AttachedFile
from services.ingest.charsets import (
    MAX_HEADER_CHARS,
    bound_header,
    codec_for,
    decode_bytes,
    decode_header_value,
    decode_param,
    header_cut_warning,
)
from services.ingest.html_text import has_data_table, html_to_text
from services.ingest.outlook import OutlookError, outlook_kind, to_rfc5322
from shared.events import Attachment

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
MAX_WARNINGS = 20


class MimeError(ValueError):
    """The bytes cannot be read as a MIME message at all."""


@dataclass
class Limits:
    """How much of a message the walk will look at."""

    max_parts: int = 200
    max_depth: int = 8


@dataclass
class Address:
    """A decoded mailbox: display name and lower-cased address."""

    name: str | None
    email: str | None

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.email or self.name or ""


@dataclass
class ParsedMail:
    """What normalization needs from one MIME message (or one attached message/rfc822)."""

    sender: Address | None
    to: list[Address]
    cc: list[Address]
    subject: str
    date: datetime | None
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    body: str
    body_from_html: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    files: list[AttachedFile] = field(default_factory=list)
    """The attachments' bytes (parallel to ``attachments``), for :mod:`services.ingest.attachments`."""
    forwarded: list[ParsedMail] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    received: datetime | None = None
    """When the last mail server took the message (its topmost Received header): the sender cannot set it."""


@dataclass
class _Walk:
    """State shared by one walk: the part budget and the warnings raised."""

    limits: Limits
    parts: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, warning: str) -> None:
        """Record a warning once (a message with 200 parts in one wrong charset gets one line)."""
        if warning not in self.warnings and len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(warning)

    def take_part(self) -> bool:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            if not any(w.startswith("MIME parts") for w in self.warnings):
                self.warnings.append(f"MIME parts beyond {self.limits.max_parts} ignored")
            return False
        return True


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    files: list[AttachedFile] = field(default_factory=list)
    forwarded: list[ParsedMail] = field(default_factory=list)

    def extend(self, other: _Body) -> None:
        self.plain.extend(other.plain)
        self.html.extend(other.html)
        self.attachments.extend(other.attachments)
        self.files.extend(other.files)
        self.forwarded.extend(other.forwarded)

    def attach(self, filename: str | None, ctype: str, data: bytes) -> None:
        self.attachments.append(Attachment(filename=filename, content_type=ctype, size=len(data)))
        self.files.append(AttachedFile(filename=filename, content_type=ctype, data=data))

    def has_text(self) -> bool:
        return any(p.strip() for p in self.plain) or any(h.strip() for h in self.html)


MAX_ID_CHARS = 500
"""Longest Message-ID kept as it is (it is part of Redis keys); longer ones are shortened injectively."""


def clean_id(value: str | None) -> str | None:
    """Message-ID without angle brackets or whitespace.

    One longer than :data:`MAX_ID_CHARS` keeps its start and ends in a hash of the whole id:
    a plain cut made two long ids sharing their first 500 characters one message, and the
    second mail was dropped as its duplicate.
    """
    if not value:
        return None
    found = _MESSAGE_ID.search(value)
    text = found.group(1) if found else value.strip().strip("<>").strip()
    text = re.sub(r"\s+", "", text)
    if len(text) > MAX_ID_CHARS:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        text = f"{text[: MAX_ID_CHARS - 33]}~{digest}"
    return text or None


def message_ids(value: str | None) -> list[str]:
    """All ids of a References / In-Reply-To header, oldest first, without duplicates."""
    if not value:
        return []
    found = _MESSAGE_ID.findall(value) or [v for v in value.split() if "@" in v]
    ids = [i for i in (clean_id(v) for v in found) if i]
    return list(dict.fromkeys(ids))


def parse_addresses(raw: object) -> list[Address]:
    """Decoded mailboxes of an address header; odd values give what can be salvaged, never an error."""
    if raw is None:
        return []
    text = str(raw)
    try:
        pairs = getaddresses([text])
    except Exception:
        pairs = []
    addresses = []
    for name, address in pairs:
        if not name and not address:
            continue
        decoded_name = decode_header_value(name) if name else None
        address = decode_header_value(address).strip().lower() if address else ""
        if address and "@" not in address and not decoded_name:
            decoded_name, address = address, ""
        addresses.append(Address(name=decoded_name or None, email=address or None))
    if not addresses:
        decoded = decode_header_value(text)
        found = re.search(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", decoded)
        if found:
            addresses.append(
                Address(name=decoded.replace(found.group(0), "").strip(" <>\"'") or None, email=found.group(0).lower())
            )
        elif decoded:
            addresses.append(Address(name=decoded, email=None))
    return addresses


def parse_date(raw: object) -> datetime | None:
    """RFC 5322 date; None when absent or unreadable."""
    if raw is None:
        return None
    try:
        return parsedate_to_datetime(decode_header_value(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _header(msg: Message, name: str, walk: _Walk | None = None) -> str | None:
    """The first raw value of a header (8-bit bytes kept as surrogate escapes, not replaced by U+FFFD).

    With ``walk``, bounded before anything decodes it (see :data:`charsets.MAX_HEADER_CHARS`), with
    a warning; a long References header keeps its root and its newest ids, which threading needs.
    """
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            text = str(value)
            if walk is None:
                return text
            warning = header_cut_warning(key, text)
            if warning is None:
                return text
            walk.warn(warning)
            return _bound_references(text) if wanted == "references" else bound_header(text)
    return None


def _bound_references(text: str) -> str:
    """The root id and as many of the newest ids as fit in :data:`MAX_HEADER_CHARS` (RFC 5322 §3.6.4)."""
    ids = text.split()
    if not ids:
        return ""
    kept: list[str] = []
    room = MAX_HEADER_CHARS - len(ids[0]) - 1
    for ref in reversed(ids[1:]):
        room -= len(ref) + 1
        if room < 0:
            break
        kept.append(ref)
    return " ".join([ids[0][:MAX_HEADER_CHARS], *reversed(kept)])


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return None
    if value is None:
        return None
    return decode_param(value)


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


def _filename(part: Message) -> str | None:
    return _param(part, "filename", "content-disposition") or _param(part, "name")


def _disposition(part: Message) -> str | None:
    value = part.get("content-disposition")
    if value is None:
        return None
    return str(value).split(";", 1)[0].strip().lower() or None


def _text_of(part: Message, walk: _Walk) -> str:
    """A text part decoded; a charset that had to be guessed (missing, unknown or wrong) is a warning."""
    declared = _param(part, "charset")
    data = _payload_bytes(part)
    text, used = decode_bytes(data, declared)
    if not data.isascii():
        expected = codec_for(declared)
        if not declared:
            walk.warn(f"no charset declared; decoded as {used}")
        elif expected is None:
            walk.warn(f"unknown charset {declared[:40]!r}; decoded as {used}")
        elif _codec_family(expected) != _codec_family(used):
            walk.warn(f"charset {declared[:40]!r} did not fit the text; decoded as {used}")
    return text


def _codec_family(name: str) -> str:
    """utf-8 and utf-8-sig (and utf-16 with or without a byte order) are the same charset for a warning."""
    canonical = codecs.lookup(name).name
    return canonical.removesuffix("-sig").removesuffix("-le").removesuffix("-be").replace("_", "-")


def _attached_message(part: Message, walk: _Walk, depth: int) -> ParsedMail | None:
    payload = part.get_payload()
    inner: Message | None = None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        inner = payload[0]
    else:
        data = _payload_bytes(part)
        if data.strip():
            try:
                inner = message_from_bytes(data)
            except (RecursionError, Exception):
                walk.warnings.append("an attached message could not be parsed")
                return None
    if inner is None:
        return None
    return _parse(inner, walk, depth + 1)


def _walk(part: Message, walk: _Walk, depth: int) -> _Body:
    body = _Body()
    if depth > walk.limits.max_depth:
        walk.warn(f"MIME nesting deeper than {walk.limits.max_depth}: text parts below it taken as they are")
        return _flat_text(part, walk)
    if not walk.take_part():
        return body
    ctype = part.get_content_type()
    if ctype.startswith("multipart/") and not part.is_multipart():
        # No boundary, or one that never appears: the parser leaves the whole body as one string.
        problem = "whose boundary never appears" if part.get_param("boundary") else "without a boundary"
        walk.warn(f"{ctype} {problem} read as plain text")
        body.plain.append(_text_of(part, walk))
        return body
    if ctype in ("message/rfc822", "message/global"):
        inner = _attached_message(part, walk, depth)
        if inner is not None:
            body.forwarded.append(inner)
        return body
    if part.is_multipart():
        children = [c for c in (part.get_payload() or []) if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            options = [_walk(child, walk, depth + 1) for child in children]
            body.extend(_choose_alternative(options))
        else:
            for child in children:
                body.extend(_walk(child, walk, depth + 1))
        return body
    disposition = _disposition(part)
    filename = _filename(part)
    if ctype in ("text/plain", "text/html", "text/enriched") and disposition != "attachment":
        text = _text_of(part, walk)
        if ctype == "text/html":
            body.html.append(text)
        else:
            body.plain.append(text)
        return body
    data = _payload_bytes(part)
    if outlook_kind(data) == "msg":  # an Outlook item attached as a file: a forwarded message like message/rfc822
        inner = _outlook_item(data, walk, depth)
        if inner is not None:
            body.forwarded.append(inner)
            body.attachments.append(Attachment(filename=filename, content_type=ctype, size=len(data)))
            return body
    body.attach(filename, ctype, data)
    return body


def _outlook_item(data: bytes, walk: _Walk, depth: int) -> ParsedMail | None:
    try:
        inner = message_from_bytes(to_rfc5322(data))
    except (OutlookError, RecursionError) as exc:
        walk.warn(f"an attached Outlook item could not be read: {str(exc)[:200]}")
        return None
    return _parse(inner, walk, depth + 1)


def _flat_text(top: Message, walk: _Walk) -> _Body:
    """The text parts of a subtree nested past the depth limit, in order, without recursion
    (still within the part budget); attached messages and files there are listed as attachments."""
    body = _Body()
    stack = [top]
    while stack:
        part = stack.pop()
        if not walk.take_part():
            break
        ctype = part.get_content_type()
        if part.is_multipart() and ctype not in ("message/rfc822", "message/global"):
            stack.extend(reversed([c for c in (part.get_payload() or []) if isinstance(c, Message)]))
        elif ctype in ("text/plain", "text/html", "text/enriched") and _disposition(part) != "attachment":
            (body.html if ctype == "text/html" else body.plain).append(_text_of(part, walk))
        elif ctype.startswith("multipart/"):
            body.plain.append(_text_of(part, walk))
        else:
            body.attach(_filename(part), ctype, _payload_bytes(part) if not part.is_multipart() else b"")
    return body


def _choose_alternative(options: list[_Body]) -> _Body:
    """The best rendering of a multipart/alternative: plain text, unless HTML keeps a data table better."""
    chosen = _Body()
    plain = next((o for o in options if any(p.strip() for p in o.plain) and not o.html), None)
    html = next((o for o in reversed(options) if any(h.strip() for h in o.html)), None)
    best: _Body | None
    if html is not None and (plain is None or has_data_table("".join(html.html))):
        best = html
    else:
        best = plain or html or next((o for o in options if o.has_text()), None)
    if best is not None:
        chosen.extend(best)
    for option in options:
        if option is not best:
            chosen.attachments.extend(option.attachments)
            chosen.files.extend(option.files)
            chosen.forwarded.extend(f for f in option.forwarded if f not in chosen.forwarded)
    return chosen


def _parse(msg: Message, walk: _Walk, depth: int) -> ParsedMail:
    body = _walk(msg, walk, depth)
    from_html = False
    if any(p.strip() for p in body.plain):
        text = "\n\n".join(p.strip("\n") for p in body.plain if p.strip())
    elif body.html:
        text = "\n\n".join(html_to_text(h) for h in body.html if h.strip())
        from_html = True
    else:
        text = ""
    senders = parse_addresses(_header(msg, "from", walk)) or parse_addresses(_header(msg, "sender", walk))
    parents = message_ids(decode_header_value(_header(msg, "in-reply-to", walk)))
    return ParsedMail(
        sender=senders[0] if senders else None,
        to=parse_addresses(_header(msg, "to", walk)),
        cc=parse_addresses(_header(msg, "cc", walk)),
        subject=decode_header_value(_header(msg, "subject", walk)),
        date=parse_date(_header(msg, "date", walk)),
        message_id=clean_id(decode_header_value(_header(msg, "message-id", walk))),
        in_reply_to=parents[-1] if parents else None,
        references=message_ids(_header(msg, "references", walk)),
        body=text,
        body_from_html=from_html,
        attachments=body.attachments,
        files=body.files,
        forwarded=body.forwarded,
        received=received_date(_header(msg, "received", walk)),
    )


def received_date(raw: object) -> datetime | None:
    """The time stamp of a Received header (after its last ';'); None when absent or unreadable."""
    if raw is None:
        return None
    stamp = str(raw).rpartition(";")[2]
    return parse_date(stamp) if stamp.strip() else None


def parse_mime(raw: bytes, limits: Limits | None = None) -> tuple[ParsedMail, Message]:
    """Parse RFC 5322 bytes; raises :class:`MimeError` only when there is no message to speak of."""
    limits = limits or Limits()
    try:
        msg = BytesParser(policy=compat32).parsebytes(raw)
    except RecursionError as exc:
        raise MimeError("MIME nesting too deep to parse") from exc
    except Exception as exc:
        raise MimeError(f"unparseable MIME: {type(exc).__name__}: {exc}") from exc
    walk = _Walk(limits=limits)
    try:
        parsed = _parse(msg, walk, 0)
    except RecursionError as exc:
        raise MimeError("MIME nesting too deep to walk") from exc
    if not parsed.body.strip() and not parsed.forwarded:
        walk.warn("no text body found")
    parsed.warnings = walk.warnings
    return parsed, msg
