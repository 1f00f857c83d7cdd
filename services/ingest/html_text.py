"""HTML to readable text that keeps what extraction needs: line breaks, lists and table rows.

A price table comes out as one line per row with cells joined by `` | ``, so the extract
engine sees ``X 제품 | 100 | 9,500`` instead of a column of loose numbers. Quoted history
is marked the way plain-text clients mark it: ``<blockquote>`` lines get a ``> `` prefix and
Outlook's reply containers start with a line the quote stripper treats as a cut.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

QUOTE_CUT = "\u2063[quoted-history]\u2063"
"""Marker line for an HTML reply container (Outlook's divRplyFwdMsg, OLK_SRC_BODY_SECTION …)."""

_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "hr",
    "pre",
    "address",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "dl",
    "dt",
    "dd",
    "caption",
}
_SKIP = {"script", "style", "head", "title", "noscript", "template", "xml"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"}
_QUOTE_CONTAINER_IDS = {
    "olk_src_body_section",
    "divrplyfwdmsg",
    "appendonsend",
    "mail-editor-reference-message-container",
}
_QUOTE_CONTAINER_CLASSES = {"yahoo_quoted", "protonmail_quote", "x_divrplyfwdmsg"}
_SPACES = re.compile(r"[ \t\r\f\v\xa0\u2002-\u200a\u3000]+")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")


class _TextBuilder(HTMLParser):
    """Collects text; tables and blockquotes need a little state, everything else is a line break."""

    TABLE_CELL: ClassVar[set[str]] = {"td", "th"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip_depth = 0
        self._quote_depth = 0
        self._rows: list[list[str]] = []  # one open row per open table
        self._cells: list[list[str] | None] = []  # the open cell of each open table
        self._pre = 0
        self._list_depth = 0
        self._compact_paragraphs: list[bool] = []  # Outlook's MsoNormal <p> has no margins

    # ----------------------------------------------------------------- output

    def _emit(self, text: str) -> None:
        if self._cells and self._cells[-1] is not None:
            self._cells[-1].append(text)
        else:
            self._line.append(text)

    def _flush(self, *, blank: bool = False) -> None:
        """End the current line; with ``blank``, an empty current line becomes a blank line (``<br>``)."""
        if self._cells and self._cells[-1] is not None:
            self._cells[-1].append(" ")
            return
        text = "".join(self._line)
        self._line = []
        if not self._pre:
            text = _SPACES.sub(" ", text).strip()
        prefix = "> " * self._quote_depth
        if text.strip():
            self.lines.append(prefix + text)
        elif blank and self.lines and self.lines[-1].strip("> "):
            self.lines.append(prefix.rstrip())

    def _paragraph(self) -> None:
        self._flush()
        self._flush(blank=True)

    # ----------------------------------------------------------------- parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        if self._skip_depth:
            return
        attributes = {k.lower(): (v or "") for k, v in attrs}
        ident = attributes.get("id", "").lower()
        classes = set(attributes.get("class", "").lower().split())
        if ident in _QUOTE_CONTAINER_IDS or classes & _QUOTE_CONTAINER_CLASSES:
            self._paragraph()
            self.lines.append(QUOTE_CUT)
        if tag == "blockquote":
            self._flush()
            self._quote_depth += 1
        elif tag == "table":
            self._flush()
            self._rows.append([])
            self._cells.append(None)
        elif tag == "tr" and self._rows:
            if self._rows[-1] or self._cells[-1] is not None:  # the previous row was not closed
                self._flush_row()
            self._rows[-1] = []
        elif tag in self.TABLE_CELL and self._cells:
            if self._cells[-1] is not None:  # the previous cell was not closed
                self.handle_endtag(tag)
            self._cells[-1] = []
        elif tag == "li":
            self._flush()
            self._emit("- ")
            self._list_depth += 1
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag == "img":
            alt = attributes.get("alt", "").strip()
            if alt and len(alt) < 60:
                self._emit(f" {alt} ")
        elif tag == "br":
            self._flush(blank=True)
        elif tag == "p":
            compact = any(c.startswith("msonormal") for c in classes)
            self._compact_paragraphs.append(compact)
            self._flush() if compact else self._paragraph()
        elif tag == "hr":
            self._paragraph()
        elif tag in _BLOCK:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag == "blockquote":
            self._flush()
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag in self.TABLE_CELL and self._cells and self._cells[-1] is not None:
            cell = _SPACES.sub(" ", "".join(self._cells[-1])).strip()
            self._rows[-1].append(cell)
            self._cells[-1] = None
        elif tag == "tr" and self._rows:
            self._flush_row()
        elif tag == "table" and self._rows:
            self._flush_row()
            self._rows.pop()
            self._cells.pop()
            self._flush()
        elif tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag == "li":
            self._flush()
            self._list_depth = max(0, self._list_depth - 1)
        elif tag == "p":
            compact = self._compact_paragraphs.pop() if self._compact_paragraphs else False
            self._flush(blank=True) if compact else self._paragraph()
        elif tag in _BLOCK:
            self._flush()

    def _flush_row(self) -> None:
        if self._cells[-1] is not None:  # an unclosed cell
            self.handle_endtag("td")
        cells = [c for c in self._rows[-1] if c]
        self._rows[-1] = []
        if not cells:
            return
        row = " | ".join(cells)
        if len(self._rows) > 1 and self._cells[-2] is not None:
            # A table nested in a cell (layout tables): its rows become lines of that cell.
            self._cells[-2].append("\n" + row + "\n")
            return
        self._flush()
        self._line.append(row)
        self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        data = _INVISIBLE.sub("", data)
        if not self._pre:
            data = data.replace("\r", " ").replace("\n", " ")
        elif not (self._cells and self._cells[-1] is not None):
            first, *rest = data.split("\n")
            self._emit(first)
            for piece in rest:
                self._flush(blank=True)
                self._emit(piece)
            return
        self._emit(data)

    def finish(self) -> list[str]:
        while self._rows:
            self._flush_row()
            self._rows.pop()
            self._cells.pop()
        self._flush()
        return self.lines


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; never raises on broken markup."""
    if not html:
        return ""
    builder = _TextBuilder()
    try:
        builder.feed(html)
        builder.close()
    except Exception:
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    lines = [_SPACES.sub(" ", line).strip() for raw in builder.finish() for line in raw.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n ")


def has_data_table(html: str) -> bool:
    """True when the HTML holds a real data table (price list), not just layout tables.

    A data table has at least two rows of two or more short, non-empty cells; then the HTML
    part keeps the rows better than the client's plain-text rendering does.
    """
    if "<t" not in html.lower():
        return False
    rows = [line for line in html_to_text(html).splitlines() if " | " in line]
    short_rows = [r for r in rows if all(0 < len(c.strip()) <= 60 for c in r.split(" | ")) and r.count(" | ") >= 1]
    return len(short_rows) >= 2
