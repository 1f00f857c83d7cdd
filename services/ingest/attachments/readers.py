"""One attachment's bytes → an :class:`AttachmentPart`, in the calling process (see :mod:`.sandbox`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from services.ingest.attachments.hwp import read_hwp, read_hwpx
from services.ingest.attachments.kinds import detect_kind
from services.ingest.attachments.limits import AttachmentLimits, Budget, Unreadable
from services.ingest.attachments.pdf import read_pdf
from services.ingest.attachments.render import Extracted, render
from services.ingest.attachments.sheets import read_csv, read_text, read_xls, read_xlsx
from services.ingest.attachments.word import read_docx
from shared.events import AttachmentKind, AttachmentPart

logger = logging.getLogger(__name__)

Reader = Callable[[bytes, Budget], Extracted]
READERS: dict[AttachmentKind, Reader] = {
    "pdf": read_pdf,
    "xlsx": read_xlsx,
    "xls": read_xls,
    "docx": read_docx,
    "csv": read_csv,
    "text": read_text,
    "hwp": read_hwp,
    "hwpx": read_hwpx,
}


@dataclass(frozen=True)
class AttachedFile:
    """An attachment's name, declared type and decoded bytes, as the MIME walk found it."""

    filename: str | None
    content_type: str
    data: bytes


def read_file(file: AttachedFile, kind: AttachmentKind, limits: AttachmentLimits) -> AttachmentPart:
    """Text and tables of one file; never raises: what went wrong is the part's warning."""
    budget = Budget(limits)
    part = AttachmentPart(filename=file.filename, content_type=file.content_type, kind=kind)
    reader = READERS.get(kind)
    if reader is None:
        part.warnings.append(f"{kind} attachments are not read")
        return part
    try:
        extracted = reader(file.data, budget)
    except Unreadable as exc:
        part.warnings.append(str(exc))
        return part
    except ImportError as exc:
        missing = exc.name or "a reader library"
        part.warnings.append(f"not read: {missing} is missing (pip install 'quoteflow[attachments]')")
        return part
    except MemoryError:
        part.warnings.append(f"not read: more than {limits.memory_mb} MiB needed (QUOTEFLOW_ATTACHMENT_MEMORY_MB)")
        return part
    except RecursionError:
        part.warnings.append(f"corrupt {kind}: nested too deeply to read")
        return part
    except Exception as exc:  # a reader bug must not lose the mail: the part says so, the log has the trace
        logger.warning("attachment reader %s failed on %r", kind, file.filename, exc_info=True)
        part.warnings.append(f"not read: {kind} reader error {type(exc).__name__}: {str(exc)[:200]}")
        return part
    part.pages = extracted.pages
    part.text, part.tables = render(extracted, limits.max_chars, budget.warnings)
    part.warnings.extend(budget.warnings)
    return part


def kind_of(file: AttachedFile) -> AttachmentKind:
    return detect_kind(file.filename, file.content_type, file.data)
