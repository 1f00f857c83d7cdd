"""winmail.dat (TNEF, Outlook's rich-text wrapper) with tnefparse: its body text and the files packed in it."""

from __future__ import annotations

from dataclasses import dataclass

from services.ingest.attachments.limits import Budget, Unreadable
from services.ingest.attachments.render import Extracted
from services.ingest.html_text import html_to_text


@dataclass
class Packed:
    """A file found inside a TNEF container."""

    filename: str | None
    data: bytes


def unpack_tnef(data: bytes) -> tuple[str, list[Packed]]:
    """The body (plain, else HTML as text, else RTF stripped) and the packed files."""
    import tnefparse

    try:
        container = tnefparse.TNEF(data)
    except Exception as exc:  # tnefparse raises ValueError, struct errors and its own on broken input
        raise Unreadable(f"corrupt winmail.dat (TNEF): {type(exc).__name__}: {str(exc)[:200]}") from exc
    body = ""
    if container.body:
        body = container.body if isinstance(container.body, str) else _decode(container.body, container.codepage)
    elif container.htmlbody:
        html = container.htmlbody
        body = html_to_text(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    elif container.rtfbody:
        body = _rtf_text(container.rtfbody)
    files = []
    for attachment in container.attachments:
        files.append(Packed(filename=_filename(attachment, container), data=bytes(attachment.data or b"")))
    return body, files


def _decode(data: bytes, codepage: object) -> str:
    """Bytes in the TNEF's code page (attOemCodepage; Windows-1252 when it names none)."""
    try:
        return data.decode(str(codepage or "cp1252"))
    except (LookupError, UnicodeDecodeError):
        return data.decode("cp1252", "replace")


def _filename(attachment: object, container: object) -> str | None:
    """The packed file's name: tnefparse decodes it as UTF-8, but Exchange writes it in the TNEF's code page
    (CP949 for Korean senders)."""
    try:
        name = attachment.long_filename()  # type: ignore[attr-defined]
    except (UnicodeDecodeError, AttributeError):
        raw = getattr(attachment, "_name", b"") or b""
        name = _decode(raw, getattr(container, "codepage", None) or "cp949")
    return str(name).strip("\0") or None if name else None


def _rtf_text(rtf: bytes) -> str:
    """Plain text of an RTF body: de-encapsulated HTML when Outlook wrapped HTML, else the RTF text runs."""
    try:
        from RTFDE.deencapsulate import DeEncapsulator

        decoded = DeEncapsulator(rtf)
        decoded.deencapsulate()
        if decoded.content_type == "html":
            return html_to_text(str(decoded.html))
        return str(decoded.text or "")
    except Exception:
        return ""


def read_tnef_body(body: str, budget: Budget) -> Extracted:
    result = Extracted()
    result.add_text(body)
    return result
