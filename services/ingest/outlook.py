"""Outlook's own formats as RFC 5322 mail: .msg files (extract-msg) and bare winmail.dat (TNEF, tnefparse).

People drag mail out of Outlook as .msg (an OLE compound file of MAPI properties), and
Exchange wraps rich-text mail as winmail.dat. Both become an ordinary MIME message here,
headers from the item (its transport headers when it was received, else its properties),
the body as text and HTML, attachments as parts (an attached Outlook item as message/rfc822),
so everything downstream (de-duplication, threading, attachment reading) is unchanged. The
bytes are deterministic (boundaries derive from the input), so the same file always has the
same raw hash. A winmail.dat *attached* to a mail is read with the attachments
(:mod:`services.ingest.attachments.tnef`).
"""

from __future__ import annotations

import hashlib
import mimetypes
from email.message import EmailMessage, Message
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any, Literal

from services.ingest.attachments.kinds import OLE_MAGIC, TNEF_MAGIC

MAX_NESTING = 3
"""Outlook items attached to Outlook items converted at most this deep (deeper ones are left as files)."""
_SKIPPED_HEADERS = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}


class OutlookError(ValueError):
    """The bytes look like an Outlook item but cannot be read as one; the message says why."""


def outlook_kind(data: bytes) -> Literal["msg", "tnef"] | None:
    """``msg`` for an Outlook item (.msg), ``tnef`` for a bare winmail.dat, else None."""
    if data.startswith(TNEF_MAGIC):
        return "tnef"
    if data.startswith(OLE_MAGIC) and b"_\x00_\x00s\x00u\x00b\x00s\x00t\x00g\x001\x00" in data:
        return "msg"
    return None


def to_rfc5322(data: bytes) -> bytes:
    """The item as MIME bytes; :class:`OutlookError` when it is not one or is broken."""
    kind = outlook_kind(data)
    if kind == "msg":
        message = _from_msg(data, 0)
    elif kind == "tnef":
        message = _from_tnef(data)
    else:
        raise OutlookError("not an Outlook item (.msg) or winmail.dat")
    _fix_boundaries(message, hashlib.sha256(data).hexdigest()[:24])
    return message.as_bytes(policy=SMTP)


def _fix_boundaries(message: Message, seed: str) -> None:
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_quoteflow_{seed}_{number}")


def _add_body(message: EmailMessage, text: str | None, html: str | None) -> None:
    if text and text.strip():
        message.set_content(text.replace("\r\n", "\n"), subtype="plain", charset="utf-8", cte="base64")
        if html and html.strip():
            message.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    elif html and html.strip():
        message.set_content(html, subtype="html", charset="utf-8", cte="base64")
    else:
        message.set_content("", subtype="plain", charset="utf-8")


def _attach(message: EmailMessage, data: bytes, filename: str | None, mimetype: str | None) -> None:
    ctype = mimetype or (mimetypes.guess_type(filename)[0] if filename else None) or "application/octet-stream"
    maintype, _, subtype = ctype.partition("/")
    if maintype in ("text", "multipart", "message") or not subtype:
        maintype, subtype = "application", "octet-stream"
    if message.get_content_maintype() != "multipart":
        message.make_mixed()
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _from_msg(data: bytes | Any, depth: int) -> EmailMessage:
    import extract_msg
    from extract_msg.attachments import EmbeddedMsgAttachment

    try:
        item: Any = extract_msg.openMsg(data, delayAttachments=False) if isinstance(data, bytes) else data
    except Exception as exc:  # extract-msg raises its own errors and olefile's on broken files
        raise OutlookError(f"unreadable Outlook .msg: {type(exc).__name__}: {str(exc)[:200]}") from exc
    try:
        message = EmailMessage()
        header = getattr(item, "header", None)
        for key, value in header.items() if header is not None else []:
            if key.lower() not in _SKIPPED_HEADERS and value is not None and str(value).strip():
                message[key] = str(value)
        for key, value in (
            ("From", item.sender),
            ("To", item.to),
            ("Cc", item.cc),
            ("Subject", item.subject),
            ("Message-ID", item.messageId),
            ("In-Reply-To", item.inReplyTo),
        ):
            if key not in message and value:
                message[key] = str(value).replace("\r", " ").replace("\n", " ")
        if "Date" not in message and getattr(item, "date", None) is not None:
            message["Date"] = format_datetime(item.date)
        text = _text(item.body)
        html = None
        if not (text and text.strip()) or _has_formatted_body(item):
            try:
                html = _text(item.htmlBody)
            except Exception:  # an item whose RTF cannot be de-encapsulated: its plain text still counts
                html = None
        _add_body(message, text, html)
        for attachment in item.attachments:
            if isinstance(attachment, EmbeddedMsgAttachment):
                if depth + 1 >= MAX_NESTING:
                    continue
                inner = _from_msg(attachment.data, depth + 1)
                if message.get_content_maintype() != "multipart":
                    message.make_mixed()
                message.attach(_rfc822_part(inner))
                continue
            payload = attachment.data
            if not isinstance(payload, bytes):
                continue
            name = attachment.getFilename() if hasattr(attachment, "getFilename") else None
            _attach(message, payload, name or getattr(attachment, "longFilename", None), attachment.mimetype)
        return message
    except OutlookError:
        raise
    except Exception as exc:
        raise OutlookError(f"unreadable Outlook .msg: {type(exc).__name__}: {str(exc)[:200]}") from exc
    finally:
        if isinstance(data, bytes):
            item.close()


def _has_formatted_body(item: Any) -> bool:
    """Whether the item has its own HTML or RTF body (extract-msg would otherwise make HTML up from the text)."""
    try:
        return any(item.exists(f"__substg1.0_{tag}") for tag in ("10130102", "1013001F", "10090102"))
    except Exception:
        return False


def _rfc822_part(inner: EmailMessage) -> EmailMessage:
    part = EmailMessage()
    part.set_content(inner)
    return part


def _from_tnef(data: bytes) -> EmailMessage:
    """A bare winmail.dat: subject, date, sender and body from its attributes and MAPI properties."""
    import tnefparse

    from services.ingest.attachments.tnef import unpack_tnef

    try:
        container = tnefparse.TNEF(data)
    except Exception as exc:
        raise OutlookError(f"unreadable winmail.dat (TNEF): {type(exc).__name__}: {str(exc)[:200]}") from exc
    properties: dict[int, object] = {}
    for prop in container.mapiprops:
        properties[prop.name] = prop.data
    attributes = {obj.name: obj.data for obj in container.objects}
    sender_email = _text(properties.get(0x5D01) or properties.get(0x0C1F) or properties.get(0x0065))
    sender_name = _text(properties.get(0x0C1A) or properties.get(0x0042))
    if not sender_email and not sender_name:
        raise OutlookError("winmail.dat names no sender: send the e-mail it came with instead")
    message = EmailMessage()
    message["From"] = f"{sender_name} <{sender_email}>" if sender_name and sender_email else (sender_email or "")
    subject = _text(properties.get(0x0037) or attributes.get(tnefparse.TNEF.ATTSUBJECT))
    if subject:
        message["Subject"] = subject.strip("\0")
    message_id = _text(properties.get(0x1035))
    if message_id:
        message["Message-ID"] = message_id.strip("\0")
    body, files = unpack_tnef(data)
    _add_body(message, body, None)
    for packed in files:
        _attach(message, packed.data, packed.filename, None)
    return message
