"""Attachment parts (quotes, price lists) read as more text of the message that carries them.

Ingest renders every table of an attachment as ``cell | cell`` rows, the way it renders an HTML
table in a body, so the engine's table reading (a header row naming 품명/수량/단위/단가 or
product/qty/unit/price, then the rows under it) maps an attached price table to items unchanged.
What an attachment adds is here: a view per part (same sender, role and order as its message,
evidence offsets into the part's text) and the document's currency, which a quote form states
once ("금액 단위: 원", "Currency: USD") instead of in every price cell.
"""

from __future__ import annotations

import re
from dataclasses import replace

from services.extract.rules.tables import document_currency
from services.extract.rules.text import MessageView, split_clauses
from shared.events import AttachmentPart


def part_view(view: MessageView, index: int, part: AttachmentPart) -> MessageView:
    """The part as one more view of its message (same sender, role, date and order)."""
    text = part.text
    attached = replace(
        view,
        text=text,
        language="ko" if re.search(r"[가-힣]", text) else "en",
        body_end=len(text),
        signature="",
        base=0,
        attachment=index,
        default_currency=document_currency(text),
        clauses=[],
    )
    attached.clauses = split_clauses(text, 0, len(text))
    return attached


def with_attachments(views: list[MessageView]) -> list[MessageView]:
    """Views in reading order: each message's attachment parts right after its own text."""
    out: list[MessageView] = []
    for view in views:
        out.append(view)
        if view.source is None or view.base:  # an inline forward shares its message's parts: read them once
            continue
        out.extend(
            part_view(view, index, part) for index, part in enumerate(view.source.attachment_parts) if part.text.strip()
        )
    return out
