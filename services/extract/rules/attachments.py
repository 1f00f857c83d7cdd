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
from collections import Counter
from dataclasses import replace

from services.extract.rules.items import parse_header
from services.extract.rules.money import find_money
from services.extract.rules.text import MessageView, split_clauses
from shared.events import AttachmentPart

_CURRENCY_CODES = {
    "원": "KRW",
    "₩": "KRW",
    "krw": "KRW",
    "won": "KRW",
    "usd": "USD",
    "us$": "USD",
    "$": "USD",
    "달러": "USD",
    "eur": "EUR",
    "€": "EUR",
    "유로": "EUR",
    "jpy": "JPY",
    "¥": "JPY",
    "엔": "JPY",
    "gbp": "GBP",
    "£": "GBP",
    "cny": "CNY",
    "rmb": "CNY",
}
_CODE = r"(?P<c>KRW|USD|US\$|EUR|JPY|GBP|CNY|RMB|원|₩|\$|€|¥|£|달러|유로|엔)"
_STATED = re.compile(
    rf"(?:통화|화폐|금액\s?단위|가격\s?단위|단위|currency|prices?\s+(?:are\s+)?(?:quoted\s+)?in|amounts?\s+in"
    rf"|all\s+prices\s+in)\s?[:：]?\s?\(?\s?{_CODE}(?![\w가-힣])",
    re.I,
)
_THOUSANDS = re.compile(r"(?:단위|unit)\s?[:：]?\s?\(?\s?(?:천\s?원|백만\s?원|1,?000\s?(?:원|KRW|USD))", re.I)


def document_currency(text: str) -> str | None:
    """The currency a document states for its amounts, else the one currency its amounts carry.

    None for 'unit: thousand won' (amounts would need scaling: better no currency than a wrong price)
    and for documents mixing currencies without saying which one the table uses.
    """
    if _THOUSANDS.search(text):
        return None
    stated = _STATED.search(text)
    if stated:
        return _CURRENCY_CODES.get(stated.group("c").lower(), stated.group("c").upper())
    found = Counter(m.currency for m in find_money(text) if m.currency)
    return next(iter(found)) if len(found) == 1 else None


def priced_table(text: str) -> bool:
    """Whether a part has a table whose header names a price column: a quote or price list, what suppliers send."""
    return any("price" in (parse_header(line) or {}) for line in text.splitlines() if " | " in line)


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
