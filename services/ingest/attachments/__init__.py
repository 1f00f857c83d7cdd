"""Attachment text and tables: what suppliers attach (quotes, price lists) joins the message as named parts.

One reader per kind (:mod:`.pdf`, :mod:`.sheets` for XLSX/XLS/CSV, :mod:`.word`, :mod:`.hwp` for
HWP/HWPX, :mod:`.tnef` for winmail.dat), chosen by content (:mod:`.kinds`), each within the hard
limits of :class:`.limits.AttachmentLimits` and, by default, in a killable child process
(:mod:`.sandbox`). A file that is encrypted, corrupt or over a limit gives a part with a
warning and no text; it never fails the message.
"""

from __future__ import annotations

from services.ingest.attachments.limits import AttachmentLimits
from services.ingest.attachments.readers import AttachedFile, kind_of, read_file
from services.ingest.settings import IngestSettings
from shared.events import AttachmentKind, AttachmentPart

__all__ = ["AttachedFile", "AttachmentLimits", "read_attachments"]

MAX_TNEF_FILES = 20


def read_attachments(files: list[AttachedFile], settings: IngestSettings) -> tuple[list[AttachmentPart], list[str]]:
    """The parts of a message's attachments (images have none) and the warnings for the message itself."""
    if not settings.read_attachments or not files:
        return [], []
    limits = AttachmentLimits.from_settings(settings)
    parts: list[AttachmentPart] = []
    warnings: list[str] = []
    readable = [(f, kind_of(f)) for f in files]
    # Images (logos, scans: no OCR, see README's Ingest section) and unknown kinds have no text to read;
    # they stay listed in the message's attachments.
    readable = [(f, k) for f, k in readable if k not in ("image", "other")]
    if len(readable) > settings.max_attachments:
        warnings.append(
            f"{len(readable) - settings.max_attachments} attachments beyond {settings.max_attachments} not read "
            "(QUOTEFLOW_MAX_ATTACHMENTS)"
        )
        readable = readable[: settings.max_attachments]
    for file, kind in readable:
        if len(file.data) > limits.max_bytes:
            part = AttachmentPart(filename=file.filename, content_type=file.content_type, kind=kind)
            part.warnings.append(
                f"{len(file.data)} bytes exceed the attachment limit of {limits.max_bytes} "
                "(QUOTEFLOW_MAX_ATTACHMENT_BYTES): not read"
            )
            parts.append(part)
        elif kind == "tnef":
            parts.extend(_read_tnef(file, settings, limits))
        else:
            parts.append(_read(file, kind, settings, limits))
    _bound_message(parts, settings.max_text_chars)
    for part in parts:
        warnings.extend(f"attachment {part.filename or '(unnamed)'}: {w}" for w in part.warnings)
    return parts, warnings


def _size(part: AttachmentPart) -> int:
    return len(part.text) + sum(len(cell) for table in part.tables for row in table for cell in row)


def _bound_message(parts: list[AttachmentPart], budget: int) -> None:
    """All parts of one message together keep at most ``budget`` characters (text and table cells, as
    QUOTEFLOW_MAX_TEXT_CHARS bounds the body): the event and the thread state stay within Kafka's and
    Redis's record sizes however many large attachments a message has."""
    for part in parts:
        if _size(part) > budget:
            if part.tables:
                part.tables = []
                part.warnings.append("tables left out: the message's attachments exceed QUOTEFLOW_MAX_TEXT_CHARS")
            if len(part.text) > budget:
                part.warnings.append(
                    f"text cut from {len(part.text)} to {budget} characters: the message's attachments exceed "
                    "QUOTEFLOW_MAX_TEXT_CHARS"
                )
                part.text = part.text[:budget]
        budget = max(0, budget - _size(part))


def _read(
    file: AttachedFile, kind: AttachmentKind, settings: IngestSettings, limits: AttachmentLimits
) -> AttachmentPart:
    if settings.attachment_sandbox:
        from services.ingest.attachments.sandbox import read_isolated

        return read_isolated(file, kind, limits)
    return read_file(file, kind, limits)


def _read_tnef(file: AttachedFile, settings: IngestSettings, limits: AttachmentLimits) -> list[AttachmentPart]:
    """winmail.dat: a part for its body (when it has text) and one per packed file, read like any attachment."""
    from services.ingest.attachments.limits import Unreadable
    from services.ingest.attachments.tnef import unpack_tnef

    container = AttachmentPart(filename=file.filename, content_type=file.content_type, kind="tnef")
    try:
        body, packed = unpack_tnef(file.data)
    except Unreadable as exc:
        container.warnings.append(str(exc))
        return [container]
    container.text = body.strip()[: limits.max_chars]
    parts = [container] if container.text else []
    if len(packed) > MAX_TNEF_FILES:
        container.warnings.append(f"{len(packed) - MAX_TNEF_FILES} files beyond {MAX_TNEF_FILES} in it not read")
        parts = [container]
    for inner in packed[:MAX_TNEF_FILES]:
        inner_file = AttachedFile(filename=inner.filename, content_type="application/octet-stream", data=inner.data)
        kind = kind_of(inner_file)
        if kind in ("image", "other", "tnef"):
            continue
        if len(inner.data) > limits.max_bytes:
            part = AttachmentPart(filename=inner.filename, content_type=inner_file.content_type, kind=kind)
            part.warnings.append(f"{len(inner.data)} bytes exceed the attachment limit of {limits.max_bytes}: not read")
            parts.append(part)
            continue
        parts.append(_read(inner_file, kind, settings, limits))
    return parts
