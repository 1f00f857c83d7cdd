"""What a reader produces (paragraphs and tables in reading order) and how it becomes a part's text.

Every kind renders the same way as ingest renders an HTML table in a body: one line per row,
cells joined by `` | ``. So extract's table reading (header row with 품명/수량/단가 or
product/qty/price, then rows) applies to attachments unchanged, and evidence offsets point into
the part's ``text``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

Table = list[list[str]]
_SPACES = re.compile(r"\s+")


@dataclass
class Extracted:
    """Paragraphs (str) and tables (rows of cells) in reading order, and the page or sheet count."""

    blocks: list[str | Table] = field(default_factory=list)
    pages: int | None = None

    def add_text(self, text: str) -> None:
        text = text.strip("\n")
        if text.strip():
            self.blocks.append(text)

    def add_table(self, rows: Sequence[Sequence[object]]) -> None:
        cleaned = clean_table(rows)
        if cleaned:
            self.blocks.append(cleaned)


def cell_text(value: object) -> str:
    """One cell as text: numbers without float noise (1200.0 → 1200), dates as ISO, whitespace folded,
    and no ``|`` (it separates cells)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{Decimal(repr(value)):f}"
    elif isinstance(value, dt.datetime):
        text = value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return _SPACES.sub(" ", text.replace("|", "/")).strip()


def clean_table(rows: Sequence[Sequence[object]]) -> Table:
    """Rows without empty ones, every row as wide as the widest used column (no trailing empty columns)."""
    kept = [[cell_text(c) for c in row] for row in rows]
    kept = [row for row in kept if any(row)]
    if not kept:
        return []
    width = max(max((i + 1 for i, c in enumerate(row) if c), default=0) for row in kept)
    return [(row + [""] * width)[:width] for row in kept]


def render(extracted: Extracted, max_chars: int, warnings: list[str]) -> tuple[str, list[Table]]:
    """The part's text and its tables. A row with one filled cell is a line of text (a title or a
    note such as '납기: 2주'), a row with more is a table row. Cut at ``max_chars`` with a warning."""
    lines: list[str] = []
    tables: list[Table] = []
    for block in extracted.blocks:
        if isinstance(block, str):
            lines.append(block)
            continue
        tables.append(block)
        for row in block:
            filled = [c for c in row if c]
            lines.append(filled[0] if len(filled) == 1 else " | ".join(row))
        lines.append("")
    text = "\n".join(lines).strip()
    if len(text) > max_chars:
        warnings.append(f"text cut from {len(text)} to {max_chars} characters (QUOTEFLOW_MAX_ATTACHMENT_CHARS)")
        text = text[:max_chars]
    return text, tables
