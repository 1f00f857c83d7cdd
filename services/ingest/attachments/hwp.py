"""한글 documents: HWPX (zip + OWPML XML) and HWP 5 (OLE compound file of zlib-deflated records).

No HWP 5 reader on PyPI is both maintained and permissively licensed (pyhwp: beta, last release
2020, AGPL), so HWP 5 is read here from Hancom's published format (HWP 5.0 revision 1.3): the
``BodyText/SectionN`` streams (raw deflate when the FileHeader says so) hold records; paragraph
text is HWPTAG_PARA_TEXT (UTF-16LE with 8-unit inline controls), and a table's cells are
LIST_HEADER records carrying their row and column. Password-protected and distribution (DRM)
documents are reported, not read; when the body cannot be parsed, the ``PrvText`` preview (the
first page or so, as plain text) is used with a warning.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Iterator

from services.ingest.attachments.limits import Budget, Unreadable, open_zip
from services.ingest.attachments.render import Extracted, Table

# ----------------------------------------------------------------------------------------------- HWPX

_SECTION = re.compile(r"^Contents/section(\d+)\.xml$", re.I)


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def read_hwpx(data: bytes, budget: Budget) -> Extracted:
    from lxml import etree

    archive = open_zip(data, budget.limits)
    sections = sorted((int(m.group(1)), name) for name in archive.namelist() if (m := _SECTION.match(name)) is not None)
    if not sections:
        raise Unreadable("corrupt HWPX: no Contents/section*.xml")
    # No DTDs, entities or network: the XML is the sender's.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    result = Extracted(pages=len(sections))
    for _, name in sections:
        if budget.out_of_time():
            break
        try:
            root = etree.fromstring(archive.read(name), parser)
        except Exception as exc:
            raise Unreadable(f"corrupt HWPX section {name}: {type(exc).__name__}") from exc
        _walk_hwpx(root, result, budget)
    return result


def _walk_hwpx(element: object, result: Extracted, budget: Budget) -> None:
    line: list[str] = []

    def flush() -> None:
        if line:
            result.add_text("".join(line))
            line.clear()

    def walk(node: object) -> None:
        for child in node:  # type: ignore[attr-defined]
            tag = _local(child.tag)
            if tag == "tbl":
                flush()
                rows: Table = []
                for tr in (c for c in child if _local(c.tag) == "tr"):
                    cells = [
                        " ".join(
                            "".join(t.itertext()) for t in tc.iter() if _local(t.tag) == "t" and "".join(t.itertext())
                        )
                        for tc in tr
                        if _local(tc.tag) == "tc"
                    ]
                    if not budget.take_cells(len(cells)):
                        break
                    rows.append(cells)
                result.add_table(rows)
            elif tag == "t":
                line.append("".join(child.itertext()))
            elif tag == "p":
                walk(child)
                flush()
            else:
                walk(child)

    walk(element)
    flush()


# ----------------------------------------------------------------------------------------------- HWP 5

HWPTAG_BEGIN = 0x010
TAG_PARA_HEADER = HWPTAG_BEGIN + 50
TAG_PARA_TEXT = HWPTAG_BEGIN + 51
TAG_CTRL_HEADER = HWPTAG_BEGIN + 55
TAG_LIST_HEADER = HWPTAG_BEGIN + 56
TAG_TABLE = HWPTAG_BEGIN + 61

_CHAR_CONTROLS = {0, 10, 13, *range(24, 32)}
"""Control codes one unit wide; every other code below 32 is an inline or extended control of 8 units."""


def _records(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(tag, level, payload) of each record of a section stream."""
    offset = 0
    while offset + 4 <= len(stream):
        (header,) = struct.unpack_from("<I", stream, offset)
        offset += 4
        tag, level, size = header & 0x3FF, (header >> 10) & 0x3FF, header >> 20
        if size == 0xFFF:
            if offset + 4 > len(stream):
                return
            (size,) = struct.unpack_from("<I", stream, offset)
            offset += 4
        yield tag, level, stream[offset : offset + size]
        offset += size


def para_text(payload: bytes) -> str:
    """A PARA_TEXT record's text without its controls (tab and line break kept)."""
    units = struct.unpack(f"<{len(payload) // 2}H", payload[: len(payload) // 2 * 2])
    out: list[str] = []
    index = 0
    while index < len(units):
        code = units[index]
        if code >= 32:
            out.append(chr(code))
            index += 1
        elif code in _CHAR_CONTROLS:
            out.append("\n" if code == 10 else " " if code in (30, 31) else "")
            index += 1
        else:
            out.append("\t" if code == 9 else "")
            index += 8
    return "".join(out).replace("\ud800", "")


def _inflate(data: bytes, budget: Budget, compressed: bool) -> bytes:
    if not compressed:
        return data
    inflater = zlib.decompressobj(-15)
    limit = min(budget.limits.max_decompressed_bytes, max(len(data), 1) * budget.limits.max_ratio + 1024 * 1024)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise Unreadable(f"corrupt HWP body stream: {exc}") from exc
    if inflater.unconsumed_tail:
        raise Unreadable(
            f"HWP body stream inflates past {limit} bytes (QUOTEFLOW_MAX_DECOMPRESSION_RATIO / "
            "QUOTEFLOW_MAX_DECOMPRESSED_BYTES): not read"
        )
    return out


def read_hwp(data: bytes, budget: Budget) -> Extracted:
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:
        raise Unreadable(f"corrupt HWP: {type(exc).__name__}: {str(exc)[:200]}") from exc
    with ole:
        if not ole.exists("FileHeader"):
            raise Unreadable("corrupt HWP: no FileHeader")
        header = ole.openstream("FileHeader").read(256)
        if not header.startswith(b"HWP Document File"):
            raise Unreadable("not an HWP 5 document (HWP 3 and older are not read)")
        (flags,) = struct.unpack_from("<I", header, 36)
        if flags & 0x2:
            raise Unreadable("encrypted HWP (password-protected): not read")
        if flags & 0x4:
            raise Unreadable("HWP distribution document (DRM-protected): not read")
        sections = sorted(
            (int(m.group(1)), path)
            for path in ole.listdir()
            if len(path) == 2 and path[0] == "BodyText" and (m := re.fullmatch(r"Section(\d+)", path[1]))
        )
        result = Extracted(pages=len(sections))
        try:
            for _, path in sections:
                if budget.out_of_time():
                    break
                stream = _inflate(ole.openstream(path).read(), budget, compressed=bool(flags & 0x1))
                _read_section(stream, result, budget)
        except Unreadable:
            if result.blocks or not ole.exists("PrvText"):
                raise
        if not result.blocks and ole.exists("PrvText"):
            preview = ole.openstream("PrvText").read(64 * 1024).decode("utf-16-le", "replace").strip("\0")
            result.add_text(preview)
            budget.warn("HWP body not readable: only the preview text (PrvText) was read")
    return result


def _read_section(stream: bytes, result: Extracted, budget: Budget) -> None:
    """Paragraphs as text; a table's cell paragraphs into their (row, column)."""
    table: dict[tuple[int, int], list[str]] | None = None
    table_level = -1
    cell: tuple[int, int] | None = None

    def close_table() -> None:
        nonlocal table, cell
        if table:
            height = max(r for r, _ in table) + 1
            width = max(c for _, c in table) + 1
            if budget.take_cells(height * width):
                rows = [[" ".join(table.get((r, c), [])) for c in range(width)] for r in range(height)]
                result.add_table(rows)
        table, cell = None, None

    for number, (tag, level, payload) in enumerate(_records(stream)):
        if number % 500 == 499 and budget.out_of_time():
            break
        if table is not None and level < table_level:
            close_table()
        if tag == TAG_TABLE and table is None:
            table, table_level = {}, level
        elif tag == TAG_LIST_HEADER and table is not None and level == table_level and len(payload) >= 16:
            column, row = struct.unpack_from("<HH", payload, 8)
            cell = (row, column)
            table.setdefault(cell, [])
        elif tag == TAG_PARA_TEXT:
            text = para_text(payload).strip()
            if not text:
                continue
            if table is not None and cell is not None:
                table[cell].append(text)
            else:
                result.add_text(text)
    close_table()
