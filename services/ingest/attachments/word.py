"""Word (DOCX) with python-docx: paragraphs and tables in document order, merged cells counted once."""

from __future__ import annotations

import io

from services.ingest.attachments.limits import Budget, Unreadable, open_zip
from services.ingest.attachments.render import Extracted


def read_docx(data: bytes, budget: Budget) -> Extracted:
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable("encrypted document (password-protected): not read")
    open_zip(data, budget.limits).close()
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError and XML errors on broken files
        raise Unreadable(f"corrupt DOCX: {type(exc).__name__}: {str(exc)[:200]}") from exc
    result = Extracted()
    for number, element in enumerate(document.element.body.iterchildren()):
        if number % 100 == 99 and budget.out_of_time():
            break
        tag = element.tag.rpartition("}")[2]
        if tag == "p":
            result.add_text(Paragraph(element, document).text)
        elif tag == "tbl":
            rows: list[list[str]] = []
            for row in Table(element, document).rows:
                cells, seen = [], set()
                for cell in row.cells:
                    # A merged cell is returned once per grid column it spans: keep it in the first.
                    cells.append("" if id(cell._tc) in seen else " ".join(p.text for p in cell.paragraphs))
                    seen.add(id(cell._tc))
                if not budget.take_cells(len(cells)):
                    break
                rows.append(cells)
            result.add_table(rows)
            if budget.cells >= budget.limits.max_cells:
                break
    return result
