"""Review records: one per (tenant, thread) in Redis, what the queue and the thread page show.

Keys (tenant ids hold no ``:``, thread ids are plain names, so keys of two tenants never meet):

- ``review:{tenant}:{thread_id}``: the record (JSON): latest facts, quote revisions, status, decision;
- ``review-index:{tenant}``: hash thread id → the record's queue line (JSON), for the queue page;
- ``review-audit:{tenant}:{thread_id}``: hash of audit entries (who, field, from, to, when).

Records are changed read-decide-write with :meth:`Store.compare_and_set` (the consumer and two
reviewers racing on one thread: one write wins, the other reads again), so a reviewer's decision
is never overwritten by facts that arrived meanwhile, nor the facts by a stale page.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.review.settings import ReviewSettings
from shared.events import FactsExtracted, KeyFacts, NormalizedThread, QuoteGenerated, utc_now
from shared.store import Store

Status = Literal["needs_review", "pending", "approved", "corrected", "rejected", "auto_approved"]
STATUSES: tuple[Status, ...] = ("needs_review", "pending", "approved", "corrected", "rejected", "auto_approved")
OPEN_STATUSES: tuple[Status, ...] = ("needs_review", "pending")
DECIDED_STATUSES: tuple[Status, ...] = ("approved", "corrected", "rejected")
MAX_QUOTE_REVISIONS = 20
"""Quote revisions kept per record with their HTML (the newest)."""
MAX_UPDATE_ATTEMPTS = 20


class ReviewConflict(RuntimeError):
    """The record changed under the caller (new facts, another reviewer): read again."""


# --------------------------------------------------------------------------- assessment


def fact_paths(facts: KeyFacts) -> dict[str, Any]:
    """Every stated (non-null) fact by dotted path, as in Evidence.field (``items.0.unit_price``)."""
    paths: dict[str, Any] = {}
    for name, value in facts.model_dump(mode="json").items():
        if name in ("buyer", "supplier"):
            for key, inner in (value or {}).items():
                if inner is not None:
                    paths[f"{name}.{key}"] = inner
        elif name == "items":
            for index, item in enumerate(value):
                for key, inner in item.items():
                    if inner is not None:
                        paths[f"items.{index}.{key}"] = inner
        elif value is not None:
            paths[name] = value
    return paths


def disagreements(event: FactsExtracted) -> set[str]:
    """Paths the engines disagree on (hybrid's ``disagreement: <path> …`` warnings; ``items`` for unpaired items)."""
    found: set[str] = set()
    for warning in event.warnings:
        if warning.startswith("disagreement: "):
            found.add(warning.removeprefix("disagreement: ").split(" ", 1)[0])
        elif warning.startswith("hybrid: the llm found items"):
            found.add("items")
        elif warning.startswith("hybrid: the llm's"):
            found.add(warning.split("'s ", 1)[1].split(" ", 1)[0])
    return found


def field_confidence(event: FactsExtracted) -> dict[str, float]:
    """A confidence per stated fact: grounded at an evidence span (1.0 by rules, 0.9 by the LLM), stated
    without evidence (0.5), or disputed between the engines (0.3)."""
    grounded = {e.field for e in event.evidence}
    disputed = disagreements(event)
    scores: dict[str, float] = {}
    for path in fact_paths(event.facts):
        if path in disputed or path.split(".", 1)[0] in disputed:
            scores[path] = 0.3
        elif path in grounded:
            scores[path] = 0.9 if event.value_sources.get(path) == "llm" else 1.0
        else:
            scores[path] = 0.5
    return scores


def required_groups(facts: KeyFacts, required: list[str]) -> dict[str, list[str]]:
    """Each required fact with the paths any one of which states it (empty: it is missing)."""
    stated = fact_paths(facts)
    groups: dict[str, list[str]] = {}
    if not facts.items:
        groups["items"] = []
    for index, _item in enumerate(facts.items):
        for key in ("quantity", "unit_price"):
            path = f"items.{index}.{key}"
            groups[path] = [path] if path in stated else []
    currency = [p for p in stated if p == "currency" or (p.startswith("items.") and p.endswith(".currency"))]
    groups["currency"] = currency
    options: dict[str, list[str]] = {
        "buyer": [p for p in stated if p.startswith("buyer.")],
        "supplier": [p for p in stated if p.startswith("supplier.")],
        "delivery": [p for p in ("delivery_lead_time_days", "delivery_date") if p in stated],
        "payment_terms": ["payment_terms"] if "payment_terms" in stated else [],
        "incoterm": ["incoterm"] if "incoterm" in stated else [],
        "warranty": ["warranty_months"] if "warranty_months" in stated else [],
    }
    for name in required:
        groups[name] = options[name]
    return groups


@dataclass(frozen=True)
class Assessment:
    """Why a thread needs a person (reasons, most urgent first), its confidence and whether it may skip the queue."""

    reasons: list[str]
    confidence: float
    fields: dict[str, float]
    auto_approvable: bool


NEW_PARTY_MARKERS = ("joined the thread from", "look-alike")


def assess(
    event: FactsExtracted,
    settings: ReviewSettings,
    quote: QuoteRevision | None = None,
    thread: NormalizedThread | None = None,
) -> Assessment:
    """Reasons a person should look (needs review, low confidence, engines disagree, a new party domain)."""
    scores = field_confidence(event)
    groups = required_groups(event.facts, settings.review_required_fields)
    per_required = [max((scores[p] for p in paths), default=0.0) for paths in groups.values()]
    confidence = round(min(per_required, default=0.0), 2)
    reasons: list[str] = []
    if event.needs_review:
        reasons.append("needs review: extract flagged the facts")
    if quote is not None and quote.needs_review:
        missing = ", ".join(quote.missing_fields)
        reasons.append(f"needs review: the quote lacks {missing}" if missing else "needs review: the quote")
    if confidence < settings.low_confidence:
        weak = [name for name, value in zip(groups, per_required, strict=True) if value < settings.low_confidence]
        reasons.append(f"low confidence {confidence:.2f}: {', '.join(weak[:4])}")
    disputed = sorted(disagreements(event))
    if disputed:
        reasons.append(f"rules and LLM disagree: {', '.join(disputed[:4])}")
    parties = [w for w in event.warnings if any(m in w for m in NEW_PARTY_MARKERS)]
    if thread is not None:
        parties += [r for r in thread.review_reasons if any(m in r for m in NEW_PARTY_MARKERS)]
    if parties:
        reasons.append("new party domain: " + parties[0].removeprefix("prices need review: "))
    threshold = settings.threshold_for(event.tenant)
    all_grounded = all(paths and any(scores[p] >= 0.9 for p in paths) for paths in groups.values())
    auto = threshold is not None and not reasons and all_grounded and confidence >= threshold
    return Assessment(list(dict.fromkeys(reasons)), confidence, scores, auto)


# --------------------------------------------------------------------------- the record


class QuoteRevision(BaseModel):
    """One published quote revision, as the thread page shows it."""

    revision: int
    quote_number: str
    total: Decimal | None = None
    subtotal: Decimal | None = None
    currency: str | None = None
    needs_review: bool = False
    missing_fields: list[str] = Field(default_factory=list)
    facts_hash: str
    html: str
    pdf_path: str | None = None
    generated_at: datetime

    @classmethod
    def of(cls, quote: QuoteGenerated) -> QuoteRevision:
        return cls(
            revision=quote.revision,
            quote_number=quote.quote_number,
            total=quote.total,
            subtotal=quote.subtotal,
            currency=quote.currency,
            needs_review=quote.needs_review,
            missing_fields=quote.missing_fields,
            facts_hash=quote.facts_hash,
            html=quote.html,
            pdf_path=quote.pdf_path,
            generated_at=quote.generated_at,
        )


class Decision(BaseModel):
    """What a reviewer (or the auto-approval) decided."""

    action: Literal["approved", "corrected", "rejected", "auto_approved"]
    by: str
    at: datetime = Field(default_factory=utc_now)
    facts_hash: str | None = None
    """Hash of the approved facts (corrected or as extracted); None for a rejection."""
    thread_version: int = 1
    changed_fields: list[str] = Field(default_factory=list)
    note: str = ""


class ReviewRecord(BaseModel):
    """Everything the desk knows about one thread."""

    tenant: str
    thread_id: str
    subject: str = ""
    status: Status = "pending"
    reasons: list[str] = Field(default_factory=list)
    confidence: float = 0.0
    field_confidence: dict[str, float] = Field(default_factory=dict)
    facts: FactsExtracted | None = None
    quotes: list[QuoteRevision] = Field(default_factory=list)
    decision: Decision | None = None
    updated_at: datetime = Field(default_factory=utc_now)
    etag: str = Field(default_factory=lambda: secrets.token_hex(8))
    """Changes with every write: a form carries it, so a decision made on a page older than the record is refused."""

    @property
    def latest_quote(self) -> QuoteRevision | None:
        return max(self.quotes, key=lambda q: q.revision, default=None)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def summary(self) -> QueueEntry:
        quote = self.latest_quote
        return QueueEntry(
            thread_id=self.thread_id,
            tenant=self.tenant,
            subject=self.subject,
            status=self.status,
            reasons=self.reasons,
            confidence=self.confidence,
            updated_at=self.updated_at,
            thread_version=self.facts.thread_version if self.facts else 0,
            engine=self.facts.engine if self.facts else None,
            quote_number=quote.quote_number if quote else None,
            revision=quote.revision if quote else None,
            total=str(quote.total) if quote and quote.total is not None else None,
            currency=quote.currency if quote else None,
            decided_by=self.decision.by if self.decision else None,
        )


class QueueEntry(BaseModel):
    """One line of the queue (kept in the tenant's index hash)."""

    thread_id: str
    tenant: str
    subject: str = ""
    status: Status
    reasons: list[str] = Field(default_factory=list)
    confidence: float = 0.0
    updated_at: datetime
    thread_version: int = 0
    engine: str | None = None
    quote_number: str | None = None
    revision: int | None = None
    total: str | None = None
    currency: str | None = None
    decided_by: str | None = None

    def sort_key(self) -> tuple[int, int, float]:
        """Open threads first, those with more reasons first, then newest first."""
        return (0 if self.status in OPEN_STATUSES else 1, -len(self.reasons), -self.updated_at.timestamp())


class AuditEntry(BaseModel):
    """Who changed which field from what to what, and when."""

    at: datetime = Field(default_factory=utc_now)
    who: str
    action: str
    field: str = ""
    before: Any = None
    after: Any = None
    note: str = ""


@dataclass(frozen=True)
class Page:
    entries: list[QueueEntry]
    page: int
    pages: int
    total: int


# --------------------------------------------------------------------------- the store


def record_key(tenant: str, thread_id: str) -> str:
    return f"review:{tenant}:{thread_id}"


def index_key(tenant: str) -> str:
    return f"review-index:{tenant}"


def audit_key(tenant: str, thread_id: str) -> str:
    return f"review-audit:{tenant}:{thread_id}"


class ReviewBook:
    """Review records, the queue index and the audit log, on the shared :class:`Store` (Redis)."""

    def __init__(self, store: Store, settings: ReviewSettings) -> None:
        self.store = store
        self.settings = settings
        self.ttl_s = settings.review_ttl_days * 86400

    async def get(self, tenant: str, thread_id: str) -> ReviewRecord | None:
        raw = await self.store.get(record_key(tenant, thread_id))
        return ReviewRecord.model_validate_json(raw) if raw else None

    async def update(
        self,
        tenant: str,
        thread_id: str,
        change: Callable[[ReviewRecord | None], ReviewRecord | None],
    ) -> ReviewRecord | None:
        """Apply ``change`` to the stored record (None: none yet) and write the result atomically against what
        was read; re-reads after losing a race. ``change`` returning None writes nothing."""
        key = record_key(tenant, thread_id)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            raw = await self.store.get(key)
            current = ReviewRecord.model_validate_json(raw) if raw else None
            changed = change(current)
            if changed is None:
                return current
            changed = changed.model_copy(update={"etag": secrets.token_hex(8), "updated_at": utc_now()})
            if await self.store.compare_and_set(key, raw, changed.model_dump_json()):
                writes = self.store.batch()
                writes.expire(key, self.ttl_s)
                writes.hset(index_key(tenant), thread_id, changed.summary().model_dump_json())
                writes.expire(index_key(tenant), self.ttl_s)
                await writes.execute()
                return changed
        raise ReviewConflict(f"review record of {thread_id} kept changing under {MAX_UPDATE_ATTEMPTS} attempts")

    async def queue(self, tenants: list[str], statuses: tuple[Status, ...] | None = None, page: int = 1) -> Page:
        """The tenants' threads with one of ``statuses`` (all: None), urgent and newest first, one page."""
        entries: list[QueueEntry] = []
        for tenant in tenants:
            for raw in (await self.store.hgetall(index_key(tenant))).values():
                entry = QueueEntry.model_validate_json(raw)
                if statuses is None or entry.status in statuses:
                    entries.append(entry)
        entries.sort(key=QueueEntry.sort_key)
        size = self.settings.page_size
        pages = max(1, -(-len(entries) // size))
        page = min(max(page, 1), pages)
        return Page(entries[(page - 1) * size : page * size], page, pages, len(entries))

    async def audit(self, tenant: str, thread_id: str, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        key = audit_key(tenant, thread_id)
        writes = self.store.batch()
        for entry in entries:
            writes.hset(key, f"{entry.at.isoformat()}-{secrets.token_hex(4)}", entry.model_dump_json())
        writes.expire(key, self.ttl_s)
        await writes.execute()

    async def audit_log(self, tenant: str, thread_id: str) -> list[AuditEntry]:
        raw = await self.store.hgetall(audit_key(tenant, thread_id))
        return [AuditEntry.model_validate_json(raw[name]) for name in sorted(raw, reverse=True)]


def value_text(value: Any) -> str:
    """A fact value for the audit log and forms: JSON for numbers and booleans, the text for strings."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
