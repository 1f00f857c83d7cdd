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


Piece = tuple[float, "str | list[list[str]]"]
MIN_TABLE_ROWS = 2
MIN_TABLE_COLUMNS = 3


def _segments(words: list[dict[str, Any]], gap: float) -> list[tuple[float, float, str]]:
    """A line's words joined into runs; a gap wider than ``gap`` starts a new run (a new cell)."""
    runs: list[tuple[float, float, str]] = []
    for word in sorted(words, key=lambda w: w["x0"]):
        if runs and word["x0"] - runs[-1][1] <= gap:
            x0, _, text = runs[-1]
            runs[-1] = (x0, word["x1"], f"{text} {word['text']}")
        else:
            runs.append((word["x0"], word["x1"], word["text"]))
    return runs


def _columns(block: list[list[tuple[float, float, str]]]) -> list[tuple[float, float]]:
    """Column extents: the x ranges that some run of the block covers, separated by gaps none covers."""
    spans = sorted((x0, x1) for line in block for x0, x1, _ in line)
    columns: list[tuple[float, float]] = []
    for x0, x1 in spans:
        if columns and x0 <= columns[-1][1]:
            columns[-1] = (columns[-1][0], max(columns[-1][1], x1))
        else:
            columns.append((x0, x1))
    return columns


def layout_tables(page: Any) -> list[Piece]:
    """Tables drawn without rules (aligned columns, what many quote generators print), from word positions.

    Lines whose words fall into three or more runs separated by wide gaps, two or more in a row, form a
    block (a line of two runs, such as a total, may join one); the block's columns are the x ranges its
    runs cover. Everything else is a line of text. Returns (top, text or rows) pieces in page order.
    """
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False)
    if not words:
        return []
    heights = sorted(w["bottom"] - w["top"] for w in words)
    gap = 0.6 * heights[len(heights) // 2]
    lines: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: (round(w["top"]), w["x0"])):
        if lines and abs(lines[-1][0]["top"] - word["top"]) <= 2:
            lines[-1].append(word)
        else:
            lines.append([word])
    runs = [_segments(line, gap) for line in lines]
    pieces: list[Piece] = []
    index = 0
    while index < len(lines):
        end = index
        while end < len(lines) and (len(runs[end]) >= MIN_TABLE_COLUMNS or (end > index and len(runs[end]) == 2)):
            end += 1
        if end - index >= MIN_TABLE_ROWS and len(runs[index]) >= MIN_TABLE_COLUMNS:
            block = runs[index:end]
            columns = _columns(block)
            rows = []
            for line in block:
                cells = [""] * len(columns)
                for x0, x1, text in line:
                    centre = (x0 + x1) / 2
                    column = next((i for i, (a, b) in enumerate(columns) if a <= centre <= b), 0)
                    cells[column] = f"{cells[column]} {text}".strip()
                rows.append(cells)
            pieces.append((lines[index][0]["top"], rows))
            index = end
            continue
        pieces.append(
            (lines[index][0]["top"], " ".join(w["text"] for w in sorted(lines[index], key=lambda w: w["x0"])))
        )
        index += 1
    return pieces


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
                pieces: list[Piece] = []
                if not found:
                    pieces = layout_tables(page)
                    if any(not isinstance(piece, str) for _, piece in pieces):
                        cells = sum(len(r) for _, piece in pieces if not isinstance(piece, str) for r in piece)
                        if not budget.take_cells(cells):
                            break
                else:
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
