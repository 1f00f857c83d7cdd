"""The rules engine: messages → clauses → statements per field → the latest terms (SPEC.md §1).

The pipeline, one module per step: the messages as views in reading order (here, with
rules/attachments.py), clauses (rules/text.py), products named (rules/items.py) and table
rows (rules/tables.py), statements per fact kind (rules/readers.py) on the thread's tracks
(rules/state.py), the negotiation resolved per term (rules/negotiation.py) and the key facts
with their evidence (rules/resolve.py).
"""

from __future__ import annotations

import re

from services.extract.engine import Extraction
from services.extract.rules import attachments, items, terms
from services.extract.rules.negotiation import Decision
from services.extract.rules.parties import infer_roles, party_key
from services.extract.rules.readers import ClauseReading, read_clause
from services.extract.rules.resolve import Resolved, resolve
from services.extract.rules.state import ItemState, ThreadState
from services.extract.rules.tables import TableReader
from services.extract.rules.text import Clause, MessageView, find_body_end, split_clauses, split_inline_forwards
from shared.events import ConfidenceSource, KeyFacts, NormalizedMessage, NormalizedThread

__all__ = ["Resolved", "ThreadState", "collect", "empty_extraction", "extract_facts", "resolve", "views_of"]

_DASHED_LINE = re.compile(r"^[^.!?:\n]{2,60}?(?:\s[-–]\s|\s{3,})[^!?]*\d")
"""'Filter drier FD-164S - 80 pcs - USD 7.90' / 'Tubing set TS-400      4 sets   CHF 380.00': a line item
written without a list marker, its columns dashed or aligned with spaces."""
_PRODUCT_LABEL = re.compile(
    r"^\s*(?:(?:[-*•·▪◦►■□▶▷●○◆◇※]|\(?\d{1,2}[.)]|[가-하][.)])\s*)?"
    r"(?:product|item|article|goods|model|description|품명|제품명|품목|상품명|모델|품명\s?및\s?수량)\s?[:：]\s?(?P<p>[^,;\n(]+?)\s*(?:\([^)\n]*\)\s*)?$",
    re.I,
)


def views_of(thread: NormalizedThread) -> list[MessageView]:
    """Messages in order, forwarded messages (attached or inline) before the message that forwards them."""
    views: list[MessageView] = []

    def add(message: NormalizedMessage) -> None:
        for forwarded in message.forwarded:
            add(forwarded)
        text = message.text or ""
        blocks = split_inline_forwards(text)
        marks = [
            m.start()
            for m in re.finditer(r"(?im)^[ \t>]*(?:-{3,}\s?(?:Forwarded|Original|전달|원본)|Begin forwarded)", text)
        ]
        own_end = marks[0] if blocks and marks else len(text)
        inline: list[MessageView] = []
        for index, (offset, headers) in enumerate(blocks):
            end = marks[index + 1] if index + 1 < len(marks) else len(text)
            name, _, email = (headers.get("from") or "").rpartition("<")
            email = email.rstrip(">").strip()
            name = name.strip().strip('"')
            if not name and "@" not in email:
                name, email = email, ""
            inline.append(
                MessageView(
                    message_id=message.message_id,
                    text=text[:end],
                    role="unknown",
                    sender_name=name or None,
                    sender_email=email.lower() or None,
                    sender_company=None,
                    date=message.date,
                    language=message.language,
                    subject=headers.get("subject", message.subject),
                    body_end=find_body_end(text[:end], offset, name),
                    signature="",
                    base=offset,
                    source=message,
                )
            )
        views.extend(reversed(inline))
        views.append(
            MessageView(
                message_id=message.message_id,
                text=text,
                role=message.role,
                sender_name=message.sender_name,
                sender_email=message.sender_email,
                sender_company=message.sender_company,
                date=message.date,
                language=message.language,
                subject=message.subject,
                body_end=find_body_end(text[:own_end], 0, message.sender_name),
                signature=message.signature or "",
                source=message,
            )
        )

    for message in thread.messages:
        add(message)
    for index, view in enumerate(views):
        view.index = index
        view.clauses = split_clauses(view.text, view.base, view.body_end)
    return views


def _decision(view: MessageView) -> Decision | None:
    clauses = [c for c in view.clauses if not c.injection]
    text = " ".join(c.text for c in clauses)
    if terms.HALFWAY.search(text):
        return "halfway"
    if terms.REJECT.search(text):
        return "reject"
    if terms.ACCEPT.search(text):
        return "accept"
    return None


def _clause_products(view: MessageView, clause: Clause, korean: bool) -> list[items.ProductMention]:
    label = _PRODUCT_LABEL.match(clause.text)
    if label:
        return [
            items.ProductMention(
                label.group("p").strip(), label.start("p"), label.start("p") + len(label.group("p").strip())
            )
        ]
    mentions: list[items.ProductMention] = []
    line = items.colon_line_product(clause.text)
    if line is None and (clause.kind == "list" or _DASHED_LINE.match(clause.text)):
        line = items.list_line_product(clause.text)
    if line:
        mentions.append(line)
        rest = clause.text[line.end :]
        mentions += [
            items.ProductMention(m.name, m.start + line.end, m.end + line.end)
            for m in items.prose_products(rest, korean)
        ]
    if not mentions:
        mentions = items.prose_products(clause.text, korean)
    return mentions


def collect(thread: NormalizedThread) -> tuple[list[MessageView], ThreadState]:
    """Read every message into statements."""
    views = views_of(thread)
    reading = attachments.with_attachments(views)  # a sender whose attachment is a priced quote offers
    roles = infer_roles(reading)
    for view in reading:
        view.role = roles.get(party_key(view), view.role)  # type: ignore[assignment]
    state = ThreadState()
    for view in reading:
        _read_view(state, view)
    subject_name = _subject_product(thread.subject)
    if subject_name:
        for item in state.items:
            if item.name is None:
                item.name = subject_name
                item.tokens = items.product_tokens(subject_name)
    return views, state


def _read_view(state: ThreadState, view: MessageView) -> None:
    """One message (or attachment part): the supplier's answer to a pending proposal, then every clause."""
    state.message_focus = None
    korean = view.language in ("ko", "mixed") or bool(re.search(r"[가-힣]", view.body))
    if view.role == "supplier":
        state.supplier_orders.add(view.index)
        decision = _decision(view) if view.attachment is None else None  # a document accepts nothing
        if decision:
            state.decisions[view.index] = decision
    else:
        state.buyer_seen = True
    tables = TableReader(view.default_currency)
    for clause in view.clauses:
        if clause.injection:
            if "injection" not in " ".join(state.warnings):
                state.warnings.append(
                    f"ignored text that tries to instruct the system (prompt injection) in {view.message_id}"
                )
            continue
        furniture, table_row = tables.read(clause.text, clause.kind == "table")
        if furniture:
            continue
        reading = ClauseReading(state, view, clause, [], table_row)
        reading.mentions = _name_products(reading, korean, tables.currency)
        read_clause(reading)
        if reading.mentions:
            state.message_focus = reading.mentions[-1][1]
        elif (referenced := reading.referenced_line()) is not None:
            state.message_focus = referenced  # 'the unit price of item 2' … on the next line: 'should be …'


def _name_products(
    reading: ClauseReading, korean: bool, table_currency: str | None
) -> list[tuple[items.ProductMention, ItemState]]:
    """The products a clause names, each tied to the thread's item it is (a new one when it is new)."""
    view, clause, table_row = reading.view, reading.clause, reading.table_row
    named = [table_row.product] if table_row and table_row.product else _clause_products(view, clause, korean)
    structured = table_row is not None or clause.kind == "list" or bool(_PRODUCT_LABEL.match(clause.text))
    mentions: list[tuple[items.ProductMention, ItemState]] = []
    for position, written in enumerate(named):
        mention = items.tidy_product(written) if written is not None else None
        if mention is None:
            continue
        labelled = structured or (position == 0 and items.colon_line_product(clause.text) is not None)
        found_in: ConfidenceSource = (
            "table"
            if table_row is not None
            else "label"
            if labelled
            else "attachment"
            if view.attachment is not None
            else "sentence"
        )
        item = reading.state.item_for(
            mention.name, reading.source(mention.start, mention.end), view.index, view.role, labelled, found_in
        )
        if table_row is not None and table_currency:
            item.table_currency = table_currency
        mentions.append((mention, item))
    return mentions


def _subject_product(subject: str) -> str | None:
    """The product a subject line names once the inquiry words are gone ('RFQ: M8 bolts' → 'M8 bolts')."""
    cleaned = re.sub(
        r"(?i)\b(?:inquiry|enquiry|rfq|request for (?:quotation|quote)|quotation|quote|price|pricing|offer|order"
        r"|re|fw|fwd|for|about|on|of|regarding)\b[:\s-]*"
        r"|견적\s?(?:요청|문의|의뢰)?|가격\s?문의|단가\s?문의|구매\s?문의|문의|요청|관련|건|[\[\]():：]",
        " ",
        subject or "",
    )
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" -:,")
    return cleaned or None


def extract_facts(thread: NormalizedThread) -> tuple[list[MessageView], ThreadState, Resolved]:
    """Collect and resolve: the whole key-fact pipeline for one thread."""
    views, state = collect(thread)
    return views, state, resolve(views, state)


def empty_extraction(reason: str) -> Extraction:
    return Extraction(facts=KeyFacts(), warnings=[reason], needs_review=True, engine="rules")
