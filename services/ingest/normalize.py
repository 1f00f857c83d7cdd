"""Turn one e-mail (raw RFC 5322 bytes or a JSON event) into a :class:`NormalizedMessage`.

This module is the ingest service's public parsing API; the handler and the
``quoteflow normalize`` command only call :func:`normalize_raw` and
:func:`normalize_event`. Errors in the input raise :class:`BadEmail` with a
reason fit for a dead-letter header.

The work is split by concern: :mod:`.mime` (structure, limits), :mod:`.charsets`
(decoding), :mod:`.html_text` (HTML bodies), :mod:`.quoting` (history and forwards),
:mod:`.signatures` (signatures, disclaimers, sender company), :mod:`.language`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.ingest.attachments import AttachedFile, read_attachments
from services.ingest.charsets import bound_header, header_cut_warning
from services.ingest.dates import believable_date, parse_loose_date
from services.ingest.html_text import html_to_text
from services.ingest.language import detect_language
from services.ingest.mime import Address, Limits, MimeError, ParsedMail, clean_id, parse_addresses, parse_mime
from services.ingest.outlook import OutlookError, outlook_kind, to_rfc5322
from services.ingest.quoting import ForwardedBlock, is_forward_subject, split_reply
from services.ingest.settings import IngestSettings
from services.ingest.signatures import company_from_signature, split_display_name, split_signature
from shared.consumer import PermanentError
from shared.events import Attachment, EmailEvent, Language, NormalizedMessage, Role

__all__ = [
    "BadEmail",
    "IncomingEmail",
    "clean_id",
    "content_hash",
    "detect_language",
    "event_digest",
    "html_to_text",
    "normalize_event",
    "normalize_raw",
    "normalize_subject",
    "raw_digest",
    "strip_quoted",
]

MAX_FORWARD_DEPTH = 4
MAX_EVENT_RECIPIENTS = 1000
"""Recipients of a JSON event's To (and Cc) list parsed at most."""
_HEADER_START = re.compile(rb"^(?:From |[!-9;-~]{1,76}:)")


class BadEmail(PermanentError):
    """The input is not an e-mail we can normalize; the message says why."""


@dataclass
class IncomingEmail:
    """A normalized message plus what threading needs from its headers."""

    tenant: str
    message: NormalizedMessage
    references: list[str] = field(default_factory=list)
    raw_subject: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def participants(self) -> set[str]:
        """Every address on the message: sender, To and Cc."""
        found = {a for a in [self.message.sender_email, *self.message.to, *self.message.cc] if a}
        return {a.lower() for a in found}


_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:re|fw|fwd|aw|sv|vs|wg|tr|rv|enc|antw|odp|회신|답장|답변|전달|轉寄|转发|回复|답)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*"
    r"|\[(?:external|ext|외부|외부메일|외부 메일|spam|스팸|광고|suspicious|caution)\]\s*"
    r"|\[(?:ticket|case|req|sr|issue|jira)?\s*[#:\-]?\s*[A-Z]{0,10}[-#]?\d{2,}\]\s*"
    r"|\((?:external|외부)\)\s*"
    r")+",
    re.IGNORECASE,
)
_TICKET_TAG = re.compile(r"\s*[\[(](?:ticket|case|req|sr)?\s*#\s*\d+[\])]\s*", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """Subject without reply/forward prefixes, [EXTERNAL] banners and ticket tags, for thread matching."""
    previous = None
    subject = subject or ""
    while previous != subject:
        previous = subject
        subject = _SUBJECT_PREFIX.sub("", subject)
    subject = _TICKET_TAG.sub(" ", subject)
    return re.sub(r"\s+", " ", subject).strip()


def strip_quoted(text: str, *, forward: bool = False) -> tuple[str, str | None]:
    """New content only: quoted history removed, then the signature cut off. Returns (text, signature)."""
    reply = split_reply(text, forward=forward)
    cut = split_signature(reply.text)
    return cut.text, cut.signature


def raw_digest(data: bytes) -> str:
    """Hash of a message's exact bytes (raw RFC 5322, or a JSON event's canonical form): its identity for dedup."""
    return hashlib.sha256(data).hexdigest()[:32]


def event_digest(event: EmailEvent) -> str:
    """:func:`raw_digest` of a JSON event's canonical form (sorted keys; the tenant left out, as the
    handler may fill it in from the record header)."""
    canonical = json.dumps(event.model_dump(mode="json", by_alias=True, exclude={"tenant"}), sort_keys=True)
    return raw_digest(canonical.encode("utf-8", "surrogatepass"))


def content_hash(sender: str | None, date: datetime | None, text: str, extra: Iterable[str] = ()) -> str:
    """Stable hash of sender, date and new text (plus forwarded texts): the identity of a forwarded
    message inside another one (it has no bytes of its own). Never used for de-duplication."""
    digest = hashlib.sha256()
    digest.update((sender or "").lower().encode())
    digest.update(b"\0" + (date.astimezone(UTC).isoformat() if date else "").encode())
    digest.update(b"\0" + re.sub(r"\s+", " ", text).strip().encode())
    for piece in extra:
        digest.update(b"\0" + re.sub(r"\s+", " ", piece).strip().encode())
    return digest.hexdigest()[:32]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _is_own(address: str | None, settings: IngestSettings) -> bool:
    domain = (address or "").rpartition("@")[2].lower()
    own = {d.lower().lstrip("@") for d in settings.own_domains}
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in own)


def initial_role(address: str | None, settings: IngestSettings) -> Role:
    """Our own company's senders are on ``own_role``'s side; everyone else is decided by the thread."""
    return settings.own_role if _is_own(address, settings) else "unknown"


def _language(text: str, fallbacks: Iterable[str]) -> Language:
    if re.search(r"[A-Za-z\uac00-\ud7a3]", text):
        return detect_language(text)
    for other in fallbacks:
        if re.search(r"[A-Za-z\uac00-\ud7a3]", other):
            return detect_language(other)
    return "en"


@dataclass
class _Source:
    """One message's raw material, from MIME, a JSON event or a forwarded block."""

    message_id: str | None
    in_reply_to: str | None
    sender: Address | None
    to: list[Address]
    cc: list[Address]
    subject: str
    date: datetime | None
    body: str
    attachments: list[Attachment] = field(default_factory=list)
    files: list[AttachedFile] = field(default_factory=list)
    mime_forwards: list[ParsedMail] = field(default_factory=list)


def _from_parsed(parsed: ParsedMail) -> _Source:
    return _Source(
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        sender=parsed.sender,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        date=parsed.date,
        body=parsed.body,
        attachments=parsed.attachments,
        files=parsed.files,
        mime_forwards=parsed.forwarded,
    )


def _from_block(block: ForwardedBlock, parent_date: datetime | None) -> _Source:
    """A forwarded message written out in the body ('From: … / Date: … / Subject: …' then its text)."""
    sender_text = re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", block.headers.get("from", ""))
    senders = parse_addresses(sender_text) if sender_text else []
    tz = parent_date.tzinfo if parent_date else None
    return _Source(
        message_id=None,
        in_reply_to=None,
        sender=senders[0] if senders else None,
        to=parse_addresses(re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", block.headers.get("to", ""))),
        cc=parse_addresses(block.headers.get("cc", "")),
        subject=block.headers.get("subject", ""),
        date=parse_loose_date(block.headers.get("date"), tz),
        body=block.body,
    )


def _emails(addresses: list[Address]) -> list[str]:
    return list(dict.fromkeys(a.email for a in addresses if a.email))


def _build_message(
    source: _Source,
    settings: IngestSettings,
    *,
    arrival: int,
    depth: int,
    warnings: list[str],
    raw_hash: str | None = None,
) -> NormalizedMessage:
    """New text, signature, forwards and identity of one message (recursing into forwards).

    ``raw_hash`` (the top-level message's :func:`raw_digest`) is its content_hash and, without a
    Message-ID header, its id: two different mails never share an id, the same bytes always do.
    Forwarded messages have no bytes of their own and are identified by their sender, date and text.
    """
    sender_email = source.sender.email if source.sender else None
    display_name, display_company = split_display_name(source.sender.name if source.sender else None)
    reply = split_reply(source.body, forward=is_forward_subject(source.subject))
    cut = split_signature(reply.text, display_name, sender_email)
    text = cut.text
    if len(text) > settings.max_text_chars:
        warnings.append(f"new text cut from {len(text)} to {settings.max_text_chars} characters")
        text = text[: settings.max_text_chars]
    date = _aware(source.date)
    forwarded: list[NormalizedMessage] = []
    if depth < MAX_FORWARD_DEPTH:
        for parsed in source.mime_forwards:
            forwarded.append(
                _build_message(_from_parsed(parsed), settings, arrival=arrival, depth=depth + 1, warnings=warnings)
            )
            warnings.extend(parsed.warnings)
        for block in reply.forwarded:
            forwarded.append(
                _build_message(_from_block(block, date), settings, arrival=arrival, depth=depth + 1, warnings=warnings)
            )
    elif source.mime_forwards or reply.forwarded:
        warnings.append(f"forwards nested deeper than {MAX_FORWARD_DEPTH} ignored")
    digest = raw_hash or content_hash(sender_email, date, text, (f.text for f in forwarded))
    parts, attachment_warnings = read_attachments(source.files, settings)
    warnings.extend(attachment_warnings)
    company = display_company or company_from_signature(cut.signature, display_name, sender_email)
    return NormalizedMessage(
        message_id=source.message_id or f"{'fwd' if depth else 'generated'}-{digest}",
        in_reply_to=source.in_reply_to,
        sender_name=display_name,
        sender_email=sender_email,
        sender_company=company,
        to=_emails(source.to),
        cc=_emails(source.cc),
        role=initial_role(sender_email, settings),
        date=date,
        subject=source.subject,
        language=_language(text, [*(f.text for f in forwarded), source.subject]),
        text=text,
        signature=cut.signature,
        forwarded=forwarded,
        attachments=source.attachments,
        attachment_parts=parts,
        content_hash=digest,
        arrival=arrival,
    )


def _incoming(
    source: _Source,
    references: list[str],
    settings: IngestSettings,
    *,
    tenant: str,
    arrival: int,
    warnings: list[str],
    raw_hash: str,
) -> IncomingEmail:
    if source.sender is None or not (source.sender.email or source.sender.name):
        raise BadEmail("missing From header")
    message = _build_message(source, settings, arrival=arrival, depth=0, warnings=warnings, raw_hash=raw_hash)
    found_warnings = list(dict.fromkeys(warnings))
    if found_warnings:
        # The event carries what was cut or guessed, so a reviewer downstream knows the text may be partial.
        message = message.model_copy(update={"warnings": found_warnings})
    refs = [r for r in (clean_id(x) for x in [*references, source.in_reply_to or ""]) if r]
    refs = [r for r in dict.fromkeys(refs) if r != message.message_id]
    return IncomingEmail(
        tenant=tenant,
        message=message,
        references=refs,
        raw_subject=source.subject,
        warnings=list(found_warnings),
    )


def normalize_raw(
    raw: bytes,
    settings: IngestSettings,
    *,
    tenant: str | None = None,
    arrival: int = 0,
    received_at: datetime | None = None,
) -> IncomingEmail:
    """Parse RFC 5322 bytes (or an Outlook .msg / winmail.dat, see :mod:`.outlook`); raise :class:`BadEmail`
    (with the reason) when they are not an e-mail.

    ``received_at`` (when the pipeline got the message) bounds a Date header set in the future."""
    if len(raw) > settings.max_email_bytes:
        raise BadEmail(f"message of {len(raw)} bytes exceeds the limit of {settings.max_email_bytes}")
    raw_hash = raw_digest(raw)
    if outlook_kind(raw) is not None:  # an Outlook .msg or a bare winmail.dat: read as the mail it holds
        try:
            raw = to_rfc5322(raw)
        except OutlookError as exc:
            raise BadEmail(str(exc)) from exc
    if not raw.strip():
        raise BadEmail("empty message")
    if b"\0" in raw[:4096]:
        raise BadEmail("binary data, not an e-mail")
    if not _HEADER_START.match(raw.lstrip(b"\r\n")):
        raise BadEmail("not an RFC 5322 message: it does not start with a header line")
    try:
        parsed, msg = parse_mime(raw, Limits(max_parts=settings.max_mime_parts, max_depth=settings.max_mime_depth))
    except MimeError as exc:
        raise BadEmail(str(exc)) from exc
    if not msg.keys():
        raise BadEmail("not an RFC 5322 message: no header section")
    warnings = list(parsed.warnings)
    source = _from_parsed(parsed)
    source.date = believable_date(source.date, received_at or parsed.received, warnings)
    try:
        return _incoming(
            source,
            parsed.references,
            settings,
            tenant=tenant or settings.tenant,
            arrival=arrival,
            warnings=warnings,
            raw_hash=raw_hash,
        )
    except RecursionError as exc:
        raise BadEmail("message nesting too deep to normalize") from exc


def normalize_event(
    event: EmailEvent, settings: IngestSettings, *, arrival: int = 0, received_at: datetime | None = None
) -> IncomingEmail:
    """Normalize a JSON e-mail event (already MIME-decoded by the integration); ``received_at`` as in
    :func:`normalize_raw`."""
    body = event.text if event.text and event.text.strip() else html_to_text(event.html or "")
    if len(body.encode("utf-8", "surrogatepass")) > settings.max_email_bytes:
        raise BadEmail(f"message body exceeds the limit of {settings.max_email_bytes} bytes")
    warnings: list[str] = [] if body.strip() else ["no text body found"]

    def bounded(name: str, value: str) -> str:
        """Header fields of an event are as unbounded as raw headers: cut them the same way."""
        warning = header_cut_warning(name, value)
        if warning is None:
            return value
        warnings.append(warning)
        return bound_header(value)

    for name, values in (("To", event.to), ("Cc", event.cc)):
        if len(values) > MAX_EVENT_RECIPIENTS:
            warnings.append(f"{name} cut from {len(values)} to {MAX_EVENT_RECIPIENTS} recipients")
    senders = parse_addresses(bounded("From", event.from_))
    source = _Source(
        message_id=clean_id(event.message_id),
        in_reply_to=clean_id(event.in_reply_to),
        sender=senders[0] if senders else None,
        to=[a for value in event.to[:MAX_EVENT_RECIPIENTS] for a in parse_addresses(bounded("To", value))],
        cc=[a for value in event.cc[:MAX_EVENT_RECIPIENTS] for a in parse_addresses(bounded("Cc", value))],
        subject=bounded("Subject", event.subject),
        date=believable_date(event.date, received_at, warnings),
        body=body,
        attachments=event.attachments,
    )
    return _incoming(
        source,
        event.references,
        settings,
        tenant=event.tenant,
        arrival=arrival,
        warnings=warnings,
        raw_hash=event_digest(event),
    )
