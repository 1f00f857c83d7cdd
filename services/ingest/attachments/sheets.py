"""Spreadsheets and delimited text: XLSX (openpyxl, read-only, cached values), XLS (xlrd), CSV and plain text.

A sheet is one table; its rows are kept as rows (title and note rows included, rendered as
lines), so a price list reads like the same table pasted into a mail.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from services.ingest.attachments.limits import Budget, Unreadable, open_zip
from services.ingest.attachments.render import Extracted
from services.ingest.charsets import decode_bytes


def _rows_within(rows: Iterable[Iterable[object]], budget: Budget) -> Iterator[list[object]]:
    """Rows until the cell or time limit (checked every 200 rows: the check itself is not free)."""
    for number, row in enumerate(rows):
        cells = list(row)
        while cells and cells[-1] in (None, ""):
            cells.pop()
        if number % 200 == 199 and budget.out_of_time():
            return
        if not cells:
            continue
        if not budget.take_cells(len(cells)):
            return
        yield cells


def _sheets_warning(total: int, budget: Budget) -> None:
    if total > budget.limits.max_pages:
        budget.warn(
            f"workbook has {total} sheets: only the first {budget.limits.max_pages} read "
            "(QUOTEFLOW_MAX_ATTACHMENT_PAGES)"
        )


def read_xlsx(data: bytes, budget: Budget) -> Extracted:
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Unreadable("encrypted workbook (password-protected): not read")
    open_zip(data, budget.limits).close()
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, ValueError, zipfile and XML errors on broken files
        raise Unreadable(f"corrupt XLSX: {type(exc).__name__}: {str(exc)[:200]}") from exc
    result = Extracted(pages=len(workbook.sheetnames))
    _sheets_warning(len(workbook.sheetnames), budget)
    try:
        for worksheet in workbook.worksheets[: budget.limits.max_pages]:
            if budget.out_of_time():
                break
            if len(workbook.sheetnames) > 1:
                result.add_text(f"[{worksheet.title}]")
            result.add_table(list(_rows_within(worksheet.iter_rows(values_only=True), budget)))
            if budget.cells >= budget.limits.max_cells:
                break
    except Exception as exc:
        if not result.blocks:
            raise Unreadable(f"corrupt XLSX: {type(exc).__name__}: {str(exc)[:200]}") from exc
        budget.warn(f"XLSX read stopped at a broken sheet: {type(exc).__name__}")
    finally:
        workbook.close()
    return result


def read_xls(data: bytes, budget: Budget) -> Extracted:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
    except xlrd.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise Unreadable("encrypted workbook (password-protected): not read") from exc
        raise Unreadable(f"corrupt XLS: {str(exc)[:200]}") from exc
    except Exception as exc:
        raise Unreadable(f"corrupt XLS: {type(exc).__name__}: {str(exc)[:200]}") from exc
    result = Extracted(pages=book.nsheets)
    _sheets_warning(book.nsheets, budget)
    try:
        for index in range(min(book.nsheets, budget.limits.max_pages)):
            if budget.out_of_time():
                break
            sheet = book.sheet_by_index(index)
            if book.nsheets > 1:
                result.add_text(f"[{sheet.name}]")

            def values(row: int, sheet: xlrd.sheet.Sheet = sheet) -> list[object]:
                out: list[object] = []
                for cell in sheet.row(row):
                    if cell.ctype == xlrd.XL_CELL_DATE:
                        try:
                            out.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                        except (ValueError, OverflowError):
                            out.append(cell.value)
                    elif cell.ctype in (xlrd.XL_CELL_ERROR, xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        out.append(None)
                    else:
                        out.append(cell.value)
                return out

            result.add_table(list(_rows_within((values(r) for r in range(sheet.nrows)), budget)))
            book.unload_sheet(index)
            if budget.cells >= budget.limits.max_cells:
                break
    finally:
        book.release_resources()
    return result


def decode_text(data: bytes) -> str:
    """Text of a CSV or TXT file: BOMs, UTF-8, then CP949 (EUC-KR's superset, what Korean Excel saves), then
    detection, as ingest decodes an undeclared mail body."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    for codec in ("utf-8", "cp949"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return decode_bytes(data, None)[0]


def read_csv(data: bytes, budget: Budget) -> Extracted:
    text = decode_text(data)
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if sample.count("\t") > sample.count(",") else csv.excel
    result = Extracted()
    try:
        result.add_table(list(_rows_within(csv.reader(io.StringIO(text), dialect), budget)))
    except csv.Error as exc:
        budget.warn(f"CSV read stopped at a malformed line: {exc}")
    return result


def read_text(data: bytes, budget: Budget) -> Extracted:
    result = Extracted()
    result.add_text(decode_text(data))
    return result
