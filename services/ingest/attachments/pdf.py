"""PDF: text lines and ruled tables per page with pdfplumber (pdfminer.six), in top-to-bottom order.

pypdf looks first (cheap): a file that needs a password is reported as encrypted without
parsing its pages, and the page count is known before the page limit applies.
"""

from __future__ import annotations

import functools
import io
import logging
from typing import Any

from services.ingest.attachments.limits import Budget, Unreadable
from services.ingest.attachments.render import Extracted

# Both libraries log every oddity of a broken file ("EOF marker not found") as a warning: from a sender's
# attachment that is noise in the service log; the part's warning says what matters.
for _name in ("pypdf", "pdfminer"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def _check(data: bytes) -> int:
    """Page count; :class:`Unreadable` for a file that needs a password or is not a PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("encrypted PDF (password-protected): not read")
        return len(reader.pages)
    except Unreadable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise Unreadable(f"corrupt PDF: {type(exc).__name__}: {str(exc)[:200]}") from exc
    except NotImplementedError as exc:  # an encryption scheme pypdf cannot open
        raise Unreadable(f"encrypted PDF ({exc}): not read") from exc


def _inside(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)


def _outside(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    return obj.get("object_type") != "char" or not _inside(obj, boxes)


def read_pdf(data: bytes, budget: Budget) -> Extracted:
    import pdfplumber

    pages = _check(data)
    result = Extracted(pages=pages)
    if pages > budget.limits.max_pages:
        budget.warn(
            f"PDF has {pages} pages: only the first {budget.limits.max_pages} read (QUOTEFLOW_MAX_ATTACHMENT_PAGES)"
        )
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for number, page in enumerate(pdf.pages[: budget.limits.max_pages]):
                if number and budget.out_of_time():
                    break
                found = page.find_tables()
                boxes = [t.bbox for t in found]
                pieces: list[tuple[float, str | list[list[str]]]] = []
                outside = page.filter(functools.partial(_outside, boxes=boxes))
                for line in outside.extract_text_lines(keep_blank_chars=False):
                    pieces.append((line["top"], line["text"]))
                for table in found:
                    rows = [[c or "" for c in row] for row in table.extract()]
                    if not budget.take_cells(sum(len(r) for r in rows)):
                        break
                    pieces.append((table.bbox[1], rows))
                for _, piece in sorted(pieces, key=lambda p: p[0]):
                    if isinstance(piece, str):
                        result.add_text(piece)
                    else:
                        result.add_table(piece)
                page.flush_cache()
                if budget.cells >= budget.limits.max_cells:
                    break
    except Unreadable:
        raise
    except Exception as exc:  # pdfminer raises many kinds of errors on broken files
        if not result.blocks:
            raise Unreadable(f"corrupt PDF: {type(exc).__name__}: {str(exc)[:200]}") from exc
        budget.warn(f"PDF read stopped at a broken page: {type(exc).__name__}")
    if not result.blocks:
        budget.warn("no text in the PDF (a scanned image? OCR is not done)")
    return result
