"""What the thread page shows: mail text with evidence marked, the facts as form fields, and back again.

The form is validated by the same :class:`shared.events.KeyFacts` the pipeline uses, so a reviewer
cannot approve facts the quote service would refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.review.records import ReviewRecord, fact_paths, value_text
from shared.events import (
    INCOTERMS,
    ITEM_FIELDS,
    PARTY_FIELDS,
    SCALAR_FIELDS,
    SHIPPING_METHODS,
    Evidence,
    KeyFacts,
    NormalizedMessage,
    NormalizedThread,
)

NUMBER_FIELDS = {
    "quantity",
    "unit_price",
    "discount_percent",
    "moq",
    "budget",
    "delivery_lead_time_days",
    "warranty_months",
}
CHOICES: dict[str, tuple[str, ...]] = {"shipping_method": SHIPPING_METHODS, "incoterm": INCOTERMS}
LABELS = {
    "buyer": "Buyer",
    "supplier": "Supplier",
    "currency": "Currency",
    "moq": "MOQ",
    "delivery_lead_time_days": "Lead time (days)",
    "delivery_date": "Delivery date",
    "shipping_method": "Shipping",
    "incoterm": "Incoterm",
    "payment_terms": "Payment terms",
    "warranty_months": "Warranty (months)",
    "budget": "Budget",
    "quote_requested": "Quote requested",
}


@dataclass
class Segment:
    """A piece of a message's text; ``fields`` names the facts whose evidence it is (empty: plain text)."""

    text: str
    fields: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return anchor_of(self.fields[0]) if self.fields else ""


@dataclass
class MessageView:
    message: NormalizedMessage
    segments: list[Segment]
    evidence_count: int
    open: bool
    sender: list[Segment] = field(default_factory=list)
    """``Name <address>`` with the parties' evidence (``From: …``) marked."""
    signature: list[Segment] = field(default_factory=list)
    signature_open: bool = False


def anchor_of(path: str) -> str:
    """The HTML id of a fact's evidence mark."""
    return "ev-" + path.replace(".", "-")


def locate(text: str, evidence: Evidence) -> tuple[int, int] | None:
    """The evidence span in ``text``: as given when it still quotes the text, else where its text occurs once."""
    if 0 <= evidence.start < evidence.end <= len(text) and text[evidence.start : evidence.end] == evidence.text:
        return evidence.start, evidence.end
    if evidence.text and text.count(evidence.text) == 1:
        start = text.index(evidence.text)
        return start, start + len(evidence.text)
    return None


def segments(text: str, evidence: list[Evidence]) -> tuple[list[Segment], set[str]]:
    """The text cut at evidence spans (overlapping spans merged into one mark naming every field);
    returns the fields that were located."""
    spans: list[tuple[int, int, str]] = []
    for item in evidence:
        where = locate(text, item)
        if where is not None:
            spans.append((where[0], where[1], item.field))
    spans.sort()
    merged: list[tuple[int, int, list[str]]] = []
    for start, end, name in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), [*last[2], name])
        else:
            merged.append((start, end, [name]))
    result: list[Segment] = []
    position = 0
    for start, end, names in merged:
        if start > position:
            result.append(Segment(text[position:start]))
        result.append(Segment(text[start:end], list(dict.fromkeys(names))))
        position = end
    if position < len(text):
        result.append(Segment(text[position:]))
    return result, {name for _s, _e, name in spans}


def _needles(evidence: list[Evidence], prefix: str, text: str) -> list[Evidence]:
    """Evidence quoted from outside the new text (``From: 김서연``, ``signature: 한빛무역``), placed in ``text``."""
    placed = []
    for item in evidence:
        if not item.text.startswith(prefix):
            continue
        needle = item.text.removeprefix(prefix).strip()
        if needle and needle in text:
            start = text.index(needle)
            placed.append(item.model_copy(update={"start": start, "end": start + len(needle), "text": needle}))
    return placed


def message_views(thread: NormalizedThread, evidence: list[Evidence]) -> tuple[list[MessageView], set[str]]:
    """Every message with its evidence marked (new text, sender, signature); those with evidence and the
    newest are unfolded."""
    by_message: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_message.setdefault(item.message_id, []).append(item)
    views: list[MessageView] = []
    located: set[str] = set()
    for index, message in enumerate(thread.messages):
        own = by_message.get(message.message_id, [])
        parts, found = segments(message.text, [e for e in own if not e.text.startswith(("From: ", "signature: "))])
        sender_text = " ".join(
            p for p in (message.sender_name, f"<{message.sender_email}>" if message.sender_email else None) if p
        )
        sender, in_sender = segments(sender_text, _needles(own, "From: ", sender_text))
        signature, in_signature = segments(
            message.signature or "", _needles(own, "signature: ", message.signature or "")
        )
        found |= in_sender | in_signature
        located |= found
        newest = index == len(thread.messages) - 1
        views.append(
            MessageView(message, parts, len(found), bool(found) or newest, sender, signature, bool(in_signature))
        )
    return views, located


# --------------------------------------------------------------------------- the form


def fact_text(value: Any) -> str:
    """A fact value as a person writes it: 9500 (not 9500.0), true/false, text as it is; empty for None."""
    return _display(value)


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value_text(value)


def form_values(facts: KeyFacts) -> dict[str, str]:
    """Form field name → text, for every fact (names are the dotted paths)."""
    values: dict[str, str] = {}
    data = facts.model_dump(mode="json")
    for side in ("buyer", "supplier"):
        for name in PARTY_FIELDS:
            values[f"{side}.{name}"] = _display((data[side] or {}).get(name))
    for index, item in enumerate(data["items"]):
        for name in ITEM_FIELDS:
            values[f"items.{index}.{name}"] = _display(item.get(name))
    for name in SCALAR_FIELDS:
        values[name] = _display(data[name])
    return values


def _clean(raw: str | None, name: str) -> Any:
    text = (raw or "").strip()
    if not text:
        return None
    if name in NUMBER_FIELDS:
        return text.replace(",", "").replace("_", "").replace(" ", "")
    if name == "quote_requested":
        return {"true": True, "yes": True, "false": False, "no": False}.get(text.lower(), text)
    if name in ("currency",):
        return text.upper()
    return text


@dataclass
class FormResult:
    facts: KeyFacts | None
    values: dict[str, str]
    errors: dict[str, str]
    rows: int


def facts_from_form(form: Mapping[str, Any]) -> FormResult:
    """Parse the facts form; errors by form field name (validated by KeyFacts)."""
    values = {str(k): str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        rows = min(max(int(values.get("items.count", "0")), 0), 200)
    except ValueError:
        rows = 0
    data: dict[str, Any] = {}
    for side in ("buyer", "supplier"):
        party = {name: _clean(values.get(f"{side}.{name}"), name) for name in PARTY_FIELDS}
        data[side] = party if any(v is not None for v in party.values()) else None
    items: list[dict[str, Any]] = []
    kept: list[int] = []
    for index in range(rows):
        if values.get(f"items.{index}.remove"):
            continue
        item = {name: _clean(values.get(f"items.{index}.{name}"), name) for name in ITEM_FIELDS}
        if any(v is not None for v in item.values()):
            items.append(item)
            kept.append(index)
    data["items"] = items
    for name in SCALAR_FIELDS:
        data[name] = _clean(values.get(name), name)
    errors: dict[str, str] = {}
    if data["delivery_date"] is not None:
        from datetime import date

        try:
            date.fromisoformat(str(data["delivery_date"]))
        except ValueError:
            errors["delivery_date"] = "a date as YYYY-MM-DD"
    try:
        facts = KeyFacts.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            if loc[:1] == ["items"] and len(loc) > 1 and loc[1].isdigit() and int(loc[1]) < len(kept):
                loc[1] = str(kept[int(loc[1])])
            errors.setdefault(".".join(loc), str(error["msg"]).removeprefix("Value error, "))
        facts = None
    return FormResult(None if errors else facts, values, errors, rows)


def changes(before: KeyFacts, after: KeyFacts) -> list[tuple[str, Any, Any]]:
    """(path, old, new) for every fact that differs, in path order."""
    old, new = fact_paths(before), fact_paths(after)
    found = []
    for path in sorted(set(old) | set(new), key=_path_key):
        if old.get(path) != new.get(path):
            found.append((path, old.get(path), new.get(path)))
    return found


def _path_key(path: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


def basis(record: ReviewRecord) -> str:
    """What a decision is made on: the facts (version, extraction, content) and the status. A form carries it;
    a decision posted against another basis (new facts came, someone else decided) is refused."""
    facts = record.facts
    decided = record.decision.at.isoformat() if record.decision else ""
    parts = [
        str(facts.thread_version) if facts else "",
        facts.extracted_at.isoformat() if facts else "",
        facts.facts.content_hash() if facts else "",
        record.status,
        decided,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
