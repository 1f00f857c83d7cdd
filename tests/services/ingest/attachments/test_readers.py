"""Each reader on files made by the software that writes them: Korean and English quotes, table rows kept as rows."""

from __future__ import annotations

import pytest

from services.ingest.attachments.kinds import detect_kind
from services.ingest.attachments.limits import AttachmentLimits
from services.ingest.attachments.readers import AttachedFile, kind_of, read_file
from services.ingest.attachments.render import cell_text
from shared.events import AttachmentPart
from tests.support import attachment_files as files

LIMITS = AttachmentLimits()
KO_ROW = "1 | X 제품 | XP-100 | 100 | 개 | 9,500 | 950,000"
EN_ROW = "1 | Gate valve DN50 | 200 | pcs | 42.50 | 8,500.00"


def read(name: str, data: bytes, content_type: str = "application/octet-stream") -> AttachmentPart:
    file = AttachedFile(name, content_type, data)
    return read_file(file, kind_of(file), LIMITS)


@pytest.fixture(scope="module")
def ko_pdf() -> bytes:
    return files.pdf_quote(files.KO_QUOTE)


def test_korean_pdf_quote_keeps_the_table_as_rows_and_the_terms_as_lines(ko_pdf: bytes) -> None:
    part = read("견적서.pdf", ko_pdf, "application/pdf")
    assert (part.kind, part.pages, part.warnings) == ("pdf", 1, [])
    lines = part.text.splitlines()
    assert lines[0] == "견 적 서"
    assert "No. | 품명 | 규격 | 수량 | 단위 | 단가 | 금액" in lines
    assert KO_ROW in lines
    assert "납기: 발주 후 2주" in lines and "부가세 별도, 금액 단위: 원" in lines
    [table] = part.tables
    assert table[0] == files.KO_QUOTE.header
    assert table[1:3] == files.KO_QUOTE.rows


def test_english_pdf_quote() -> None:
    part = read("quotation.pdf", files.pdf_quote(files.EN_QUOTE))
    assert part.kind == "pdf" and not part.warnings
    assert EN_ROW in part.text.splitlines()
    assert "Incoterm: FOB Busan" in part.text


@pytest.mark.parametrize(("quote", "row"), [(files.KO_QUOTE, KO_ROW), (files.EN_QUOTE, EN_ROW)], ids=["ko", "en"])
def test_pdf_table_without_rules_is_read_from_the_column_layout(quote: files.Quote, row: str) -> None:
    part = read("quote.pdf", files.borderless_pdf_quote(quote))
    lines = part.text.splitlines()
    assert " | ".join(quote.header) in lines and row in lines
    assert quote.notes[0] in lines  # prose stays prose
    assert part.tables[0][0] == quote.header


@pytest.mark.parametrize(
    ("quote", "row"),
    [
        (files.KO_QUOTE, "1 | X 제품 | XP-100 | 100 | 개 | 9500 | 950000"),
        (files.EN_QUOTE, "1 | Gate valve DN50 | 200 | pcs | 42.5 | 8500"),
    ],
    ids=["ko", "en"],
)
def test_xlsx_numbers_read_as_written(quote: files.Quote, row: str) -> None:
    part = read("quote.xlsx", files.xlsx_quote(quote), files.XLSX)
    assert part.kind == "xlsx" and part.pages == 1 and not part.warnings
    lines = part.text.splitlines()
    assert lines[0] == quote.title  # a one-cell row is a line of text, not a table row
    header = " | ".join(quote.header)
    assert header in lines
    # The cells hold numbers (9500, 42.5): written without float noise (9500.0) or thousands separators.
    assert lines[lines.index(header) + 1] == row
    assert quote.notes[0] in lines


def test_xls_biff8_workbook() -> None:
    part = read("견적서.xls", files.xls_quote(files.KO_QUOTE), "application/vnd.ms-excel")
    assert (part.kind, part.pages, part.warnings) == ("xls", 1, [])
    lines = part.text.splitlines()
    assert lines[0] == "견 적 서" and "1 | X 제품 | XP-100 | 100 | 개 | 9500 | 950000" in lines


def test_docx_quote_in_document_order() -> None:
    part = read("quote.docx", files.docx_quote(files.EN_QUOTE), files.DOCX)
    assert part.kind == "docx" and not part.warnings
    lines = part.text.splitlines()
    assert lines.index("QUOTATION") < lines.index(EN_ROW) < lines.index("Lead time: 4 weeks")


def test_csv_in_cp949_as_korean_excel_saves_it() -> None:
    part = read("견적.csv", files.csv_quote(files.KO_QUOTE, "cp949"), "text/csv")
    assert part.kind == "csv" and KO_ROW in part.text.splitlines()
    utf8 = read("견적.csv", files.csv_quote(files.KO_QUOTE, "utf-8-sig"), "text/csv")
    assert utf8.text == part.text


def test_hwpx_paragraphs_and_table() -> None:
    part = read("견적서.hwpx", files.hwpx_quote(files.KO_QUOTE))
    assert part.kind == "hwpx" and not part.warnings
    lines = part.text.splitlines()
    assert lines[0] == "견 적 서" and KO_ROW in lines and "결제 조건: 납품 후 30일 이내 현금" in lines


def test_hwp5_body_text_and_table_cells_by_row_and_column() -> None:
    part = read("견적서.hwp", files.hwp_quote(files.KO_QUOTE))
    assert part.kind == "hwp" and not part.warnings
    assert part.tables[0][0] == files.KO_QUOTE.header
    assert KO_ROW in part.text.splitlines()


def test_password_protected_hwp_is_reported() -> None:
    part = read("견적서.hwp", files.hwp_quote(files.KO_QUOTE, encrypted=True))
    assert part.text == "" and part.warnings == ["encrypted HWP (password-protected): not read"]


def test_kind_comes_from_content_before_name() -> None:
    xlsx = files.xlsx_quote(files.KO_QUOTE)
    assert detect_kind("price.xls", "application/vnd.ms-excel", xlsx) == "xlsx"
    assert detect_kind(None, "application/octet-stream", files.pdf_quote(files.EN_QUOTE)) == "pdf"
    assert detect_kind("scan.jpg", "image/jpeg", b"\xff\xd8\xff\xe0") == "image"
    assert detect_kind("broken.pdf", "application/pdf", b"not a pdf") == "pdf"  # the reader says it is corrupt


def test_corrupt_files_give_a_warning_not_an_exception() -> None:
    for name in ("broken.pdf", "broken.xlsx", "broken.docx", "broken.hwp", "broken.hwpx", "broken.xls"):
        part = read(name, b"PK\x03\x04 this is no archive" if name.endswith(("x",)) else b"garbage")
        assert part.text == "" and part.warnings, name
        assert "corrupt" in part.warnings[0] or "not an HWP" in part.warnings[0], part.warnings


@pytest.mark.parametrize(
    ("value", "text"),
    [(1200.0, "1200"), (42.5, "42.5"), (0.1, "0.1"), (1e20, "100000000000000000000"), ("a|b", "a/b"), (None, "")],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text
