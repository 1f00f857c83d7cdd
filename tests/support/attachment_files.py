"""Attachments and threads built at test time: real PDF (WeasyPrint), XLSX, DOCX, CSV, HWPX, HWP 5 and TNEF files.

Nothing binary is committed: each builder writes the format with the library that writes it
(or, for HWP 5 and TNEF, from the published format), so a reader is tested on what the
producing software makes, hostile variants included (password, zip bomb, 500 pages).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape

from tests.support.cfb import write_cfb

KST = timezone(timedelta(hours=9))
Row = list[str]


@dataclass(frozen=True)
class Quote:
    """A supplier's quote: a price table and the terms under it."""

    title: str
    header: Row
    rows: list[Row]
    total: Row
    notes: list[str]


KO_QUOTE = Quote(
    title="견 적 서",
    header=["No.", "품명", "규격", "수량", "단위", "단가", "금액"],
    rows=[
        ["1", "X 제품", "XP-100", "100", "개", "9,500", "950,000"],
        ["2", "Y 부품", "YB-20", "50", "개", "12,000", "600,000"],
    ],
    total=["", "합계", "", "", "", "", "1,550,000"],
    notes=["납기: 발주 후 2주", "결제 조건: 납품 후 30일 이내 현금", "부가세 별도, 금액 단위: 원"],
)
EN_QUOTE = Quote(
    title="QUOTATION",
    header=["Item", "Description", "Qty", "Unit", "Unit Price (USD)", "Amount (USD)"],
    rows=[
        ["1", "Gate valve DN50", "200", "pcs", "42.50", "8,500.00"],
        ["2", "Ball valve DN25", "300", "pcs", "18.00", "5,400.00"],
    ],
    total=["", "Total", "", "", "", "13,900.00"],
    notes=["Lead time: 4 weeks", "Payment terms: 30% deposit, balance before shipment", "Incoterm: FOB Busan"],
)


def _font() -> str:
    return "font-family: 'Noto Sans CJK KR', 'Noto Sans CJK', 'DejaVu Sans', sans-serif;"


def quote_html(quote: Quote, pages: int = 1, *, ruled: bool = True) -> str:
    table = "".join(f"<th>{escape(c)}</th>" for c in quote.header)
    rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in [*quote.rows, quote.total])
    notes = "".join(f"<p>{escape(n)}</p>" for n in quote.notes)
    page = f"<h1>{escape(quote.title)}</h1><table><tr>{table}</tr>{rows}</table>{notes}"
    filler = "".join(f'<div style="page-break-before: always"><p>Page {i + 2}</p></div>' for i in range(pages - 1))
    return (
        f"<html><head><meta charset='utf-8'><style>body {{{_font()}}} table {{border-collapse: collapse}}"
        f" td, th {{{'border: 1px solid #000; padding: 3px' if ruled else 'padding: 3px 12px'}}}</style></head>"
        f"<body>{page}{filler}</body></html>"
    )


def pdf_quote(quote: Quote, *, ruled: bool = True) -> bytes:
    """The quote as a PDF; ``ruled=False`` draws the table without lines (aligned columns only)."""
    from weasyprint import HTML

    return HTML(string=quote_html(quote, ruled=ruled)).write_pdf()


def borderless_pdf_quote(quote: Quote) -> bytes:
    return pdf_quote(quote, ruled=False)


def many_pages_pdf(pages: int, quote: Quote = EN_QUOTE) -> bytes:
    """The quote's page followed by ``pages - 1`` copies of one more page (pypdf: cheap to repeat)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    reader = PdfReader(io.BytesIO(pdf_quote(quote)))
    writer.add_page(reader.pages[0])
    from weasyprint import HTML

    extra = PdfReader(io.BytesIO(HTML(string="<p>Terms and conditions continue.</p>").write_pdf())).pages[0]
    for _ in range(pages - 1):
        writer.add_page(extra)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(quote: Quote, password: str = "s3cret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_quote(quote))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _number(cell: str) -> object:
    """Spreadsheet cells hold numbers, not formatted strings."""
    bare = cell.replace(",", "")
    try:
        return int(bare) if bare.isdigit() else float(bare)
    except ValueError:
        return cell


def xlsx_quote(quote: Quote) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "견적서" if quote is KO_QUOTE else "Quote"
    sheet.append([quote.title])
    sheet.append([])
    sheet.append(quote.header)
    for row in [*quote.rows, quote.total]:
        sheet.append([_number(c) if c else None for c in row])
    sheet.append([])
    for note in quote.notes:
        sheet.append([note])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def docx_quote(quote: Quote) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(quote.title, level=1)
    table = document.add_table(rows=1, cols=len(quote.header))
    for cell, text in zip(table.rows[0].cells, quote.header, strict=True):
        cell.text = text
    for row in [*quote.rows, quote.total]:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = text
    for note in quote.notes:
        document.add_paragraph(note)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def csv_quote(quote: Quote, encoding: str = "cp949") -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(quote.header)
    for row in quote.rows:
        writer.writerow(row)
    return out.getvalue().encode(encoding)


_HWPX_NS = (
    'xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"'
)


def _hwpx_paragraph(text: str) -> str:
    return f"<hp:p><hp:run><hp:t>{escape(text)}</hp:t></hp:run></hp:p>"


def hwpx_quote(quote: Quote) -> bytes:
    """An HWPX package as Hancom Office writes it: mimetype first (stored), OWPML sections."""
    rows = "".join(
        "<hp:tr>" + "".join(f"<hp:tc><hp:subList>{_hwpx_paragraph(c)}</hp:subList></hp:tc>" for c in row) + "</hp:tr>"
        for row in [quote.header, *quote.rows, quote.total]
    )
    table = f"<hp:p><hp:run><hp:tbl>{rows}</hp:tbl></hp:run></hp:p>"
    section = (
        f'<?xml version="1.0" encoding="UTF-8"?><hs:sec {_HWPX_NS}>{_hwpx_paragraph(quote.title)}{table}'
        + "".join(_hwpx_paragraph(n) for n in quote.notes)
        + "</hs:sec>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/hwp+zip")
        archive.writestr("version.xml", '<?xml version="1.0"?><hv:HCFVersion xmlns:hv="x" major="5" minor="1"/>')
        archive.writestr("Contents/section0.xml", section, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _record(tag: int, level: int, payload: bytes) -> bytes:
    size = len(payload)
    if size >= 0xFFF:
        return struct.pack("<II", tag | (level << 10) | (0xFFF << 20), size) + payload
    return struct.pack("<I", tag | (level << 10) | (size << 20)) + payload


def _para(text: str, level: int) -> bytes:
    return _record(66, level, b"\0" * 22) + _record(67, level + 1, (text + "\r").encode("utf-16-le"))


def hwp_quote(quote: Quote, *, encrypted: bool = False) -> bytes:
    """An HWP 5 document: FileHeader, deflated BodyText/Section0 with paragraphs and a table, PrvText."""
    body = _para(quote.title, 0)
    rows = [quote.header, *quote.rows, quote.total]
    # The paragraph holding the table: its text is the table control (code 11, 8 units), then the records.
    control = struct.pack("<H", 11) + b"tbl ".ljust(12, b"\0") + struct.pack("<H", 11)
    body += _record(66, 0, b"\0" * 22) + _record(67, 1, control + "\r".encode("utf-16-le"))
    body += _record(71, 1, b" lbt" + b"\0" * 40)
    body += _record(77, 2, struct.pack("<IHH", 0, len(rows), len(rows[0])) + b"\0" * 20)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            body += _record(72, 2, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHHH", c, r, 1, 1) + b"\0" * 26)
            body += _para(cell, 2)
    for note in quote.notes:
        body += _para(note, 0)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = deflate.compress(body) + deflate.flush()
    flags = 0x1 | (0x2 if encrypted else 0)
    header = b"HWP Document File".ljust(32, b"\0") + struct.pack("<II", 0x05000300, flags)
    preview = "\n".join([quote.title, *quote.notes]).encode("utf-16-le")
    return write_cfb({"FileHeader": header.ljust(256, b"\0"), "BodyText": {"Section0": compressed}, "PrvText": preview})


def hwp_bomb(inflated: int = 512 * 1024 * 1024) -> bytes:
    """An HWP 5 document whose deflated body section inflates to ``inflated`` zero bytes."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    chunk = b"\0" * (1024 * 1024)
    compressed = b"".join(deflate.compress(chunk) for _ in range(inflated // len(chunk))) + deflate.flush()
    header = b"HWP Document File".ljust(32, b"\0") + struct.pack("<II", 0x05000300, 0x1)
    return write_cfb({"FileHeader": header.ljust(256, b"\0"), "BodyText": {"Section0": compressed}})


def zip_bomb(kind: str = "xlsx", inflated: int = 64 * 1024 * 1024) -> bytes:
    """A valid XLSX / DOCX / HWPX with one more member of ``inflated`` zero bytes (a ~1000:1 ratio)."""
    base = {"xlsx": xlsx_quote, "docx": docx_quote, "hwpx": hwpx_quote}[kind](KO_QUOTE)
    out = io.BytesIO(base)
    info = zipfile.ZipInfo("customXml/item9.xml")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "a") as archive, archive.open(info, "w", force_zip64=True) as member:
        chunk = b"\0" * (1024 * 1024)
        for _ in range(inflated // len(chunk)):
            member.write(chunk)
    return out.getvalue()


# ----------------------------------------------------------------------------------------------- TNEF


def _tnef_attribute(level: int, attribute: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, (kind << 16) | attribute, len(data)) + data + struct.pack("<H", checksum)


def winmail_dat(body: str, files: list[tuple[str, bytes]]) -> bytes:
    """A winmail.dat as Exchange writes it: TNEF version, message class, body, then each attached file."""
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += _tnef_attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    out += _tnef_attribute(1, 0x9007, 0x0006, struct.pack("<II", 949, 0))
    out += _tnef_attribute(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\0")
    out += _tnef_attribute(1, 0x800C, 0x0002, body.encode("cp949"))
    for name, data in files:
        out += _tnef_attribute(2, 0x9002, 0x0006, struct.pack("<HIIHHI", 1, 0xFFFFFFFF, 0, 0, 0, 0))
        out += _tnef_attribute(2, 0x8010, 0x0001, name.encode("cp949") + b"\0")
        out += _tnef_attribute(2, 0x800F, 0x0006, data)
    return out


# ----------------------------------------------------------------------------------------------- threads

BUYER = ("김서연", "seoyeon.kim@hanbit-trading.co.kr")
SUPPLIER = ("박준호", "junho.park@daeyang-parts.co.kr")
EN_BUYER = ("Emma Clarke", "emma.clarke@northwind-supply.co.uk")
EN_SUPPLIER = ("Minho Lee", "minho.lee@daeyang-valves.co.kr")
START = datetime(2026, 3, 2, 9, 0, tzinfo=KST)


def mail(
    sender: tuple[str, str],
    to: tuple[str, str],
    subject: str,
    body: str,
    *,
    hours: int,
    message_id: str,
    reply_to: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """RFC 5322 bytes; ``attachments`` are (filename, MIME type, bytes)."""
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = f"{to[0]} <{to[1]}>"
    message["Subject"] = subject
    message["Date"] = format_datetime(START + timedelta(hours=hours))
    message["Message-ID"] = message_id
    if reply_to:
        message["In-Reply-To"] = reply_to
        message["References"] = reply_to
    message.set_content(body)
    for filename, ctype, data in attachments or []:
        maintype, _, subtype = ctype.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def table_text(quote: Quote) -> str:
    """The quote as a supplier would paste it into the body: the same rows, the currency in the header."""
    header = [f"{c}(원)" if c in ("단가", "금액") else c for c in quote.header]
    lines = [" | ".join(header), *(" | ".join(r) for r in [*quote.rows, quote.total])]
    return "\n".join([quote.title, *lines, "", *quote.notes])


def ko_thread(attachment: tuple[str, str, bytes] | None) -> list[bytes]:
    """The talk's thread: the buyer asks, the supplier answers 'see the attached quote' (or with the table in
    the body when ``attachment`` is None)."""
    ask = mail(
        BUYER,
        SUPPLIER,
        "X 제품 견적 요청",
        "안녕하세요, 대양부품 박준호 과장님.\nX 제품 100개와 Y 부품 50개 견적 부탁드립니다.\n\n김서연 드림\n한빛무역",
        hours=0,
        message_id="<ask-1@hanbit-trading.co.kr>",
    )
    if attachment is None:
        body = f"안녕하세요.\n요청하신 견적 드립니다.\n\n{table_text(KO_QUOTE)}\n\n박준호 드림\n대양부품"
    else:
        body = "안녕하세요.\n첨부된 견적서를 확인해주시기 바랍니다.\n\n박준호 드림\n대양부품"
    answer = mail(
        SUPPLIER,
        BUYER,
        "RE: X 제품 견적 요청",
        body,
        hours=3,
        message_id="<answer-1@daeyang-parts.co.kr>",
        reply_to="<ask-1@hanbit-trading.co.kr>",
        attachments=[attachment] if attachment else None,
    )
    return [ask, answer]


def en_thread(attachment: tuple[str, str, bytes] | None) -> list[bytes]:
    ask = mail(
        EN_BUYER,
        EN_SUPPLIER,
        "RFQ: gate and ball valves",
        "Hello Minho,\n\nPlease quote 200 gate valves DN50 and 300 ball valves DN25.\n\nBest regards,\nEmma Clarke",
        hours=0,
        message_id="<rfq-1@northwind-supply.co.uk>",
    )
    if attachment is None:
        lines = [" | ".join(EN_QUOTE.header), *(" | ".join(r) for r in [*EN_QUOTE.rows, EN_QUOTE.total])]
        body = "Hello Emma,\n\nPlease find our offer below.\n\n" + "\n".join([*lines, "", *EN_QUOTE.notes])
    else:
        body = "Hello Emma,\n\nPlease find our quotation attached."
    body += "\n\nBest regards,\nMinho Lee"
    answer = mail(
        EN_SUPPLIER,
        EN_BUYER,
        "RE: RFQ: gate and ball valves",
        body,
        hours=5,
        message_id="<offer-1@daeyang-valves.co.kr>",
        reply_to="<rfq-1@northwind-supply.co.uk>",
        attachments=[attachment] if attachment else None,
    )
    return [ask, answer]


PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


# ----------------------------------------------------------------------------------------------- XLS (BIFF8)


def _biff(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def _biff_string(text: str) -> bytes:
    return struct.pack("<HB", len(text), 1) + text.encode("utf-16-le")


def xls_quote(quote: Quote) -> bytes:
    """An Excel 97-2003 workbook (BIFF8 in a compound file), as Korean ERPs still export: one sheet, strings
    in the shared string table, numbers as NUMBER records."""
    grid: list[list[object]] = [[quote.title], [], quote.header]
    grid += [[_number(c) if c else None for c in row] for row in [*quote.rows, quote.total]]
    grid += [[], *([note] for note in quote.notes)]
    strings = list(dict.fromkeys(v for row in grid for v in row if isinstance(v, str)))
    cells = b""
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            if isinstance(value, str):
                cells += _biff(0x00FD, struct.pack("<HHHI", r, c, 0, strings.index(value)))
            elif isinstance(value, int | float):
                cells += _biff(0x0203, struct.pack("<HHHd", r, c, 0, float(value)))
    width = max(len(row) for row in grid)
    sheet = (
        _biff(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0x0DBB, 0x07CC, 0, 0x06))
        + _biff(0x0200, struct.pack("<IIHHH", 0, len(grid), 0, width, 0))
        + cells
        + _biff(0x000A, b"")
    )
    sst = struct.pack("<II", len(strings), len(strings)) + b"".join(
        struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings
    )
    name = "견적서" if quote is KO_QUOTE else "Quote"

    def globals_with(offset: int) -> bytes:
        return (
            _biff(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x06))
            + _biff(0x0042, struct.pack("<H", 1200))
            + b"".join(
                _biff(0x00E0, struct.pack("<HHHBBBBIiH", 0, 0, 0xFFF5 if i < 15 else 1, 0x20, 0, 0, 0, 0, 0, 0x20C0))
                for i in range(16)
            )
            + _biff(
                0x0085, struct.pack("<IBB", offset, 0, 0) + struct.pack("<BB", len(name), 1) + name.encode("utf-16-le")
            )
            + _biff(0x00FC, sst)
            + _biff(0x000A, b"")
        )

    workbook_globals = globals_with(0)
    workbook = globals_with(len(workbook_globals)) + sheet
    return write_cfb({"Workbook": workbook.ljust(4096, b"\0")})
