"""Versioned event models for every QuoteFlow topic (the public contract of SPEC.md §3).

Every payload carries ``schema_version``. A consumer accepts only the versions it
knows; anything else is a dead letter with the reason, never a silent guess.
Key facts follow SPEC.md §1 exactly; extensions (evidence, warnings, engine
details) live beside them in the envelope, never inside ``KeyFacts``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.tenants import TenantId

SHIPPING_METHODS = ("air", "sea", "express", "standard", "courier", "rail", "truck")
INCOTERMS = ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP")

ShippingMethod = Literal["air", "sea", "express", "standard", "courier", "rail", "truck"]
Incoterm = Literal["EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP"]
Role = Literal["buyer", "supplier", "unknown"]
Language = Literal["ko", "en", "mixed"]
VatStatus = Literal["excluded", "included", "exempt"]
AttachmentKind = Literal["pdf", "xlsx", "xls", "docx", "csv", "text", "hwp", "hwpx", "tnef", "image", "other"]


def utc_now() -> datetime:
    """Timezone-aware 'now', so every timestamp in an event is unambiguous."""
    return datetime.now(UTC)


class StrictModel(BaseModel):
    """Base for contract models: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- key facts


def _not_a_bool(value: object) -> object:
    """Refuse ``true``/``false`` where a number belongs: pydantic would read them as 1 and 0, and a
    quote would print ``"quantity": true, "unit_price": true`` as one unit at 1 without review."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


Number = Annotated[float, BeforeValidator(_not_a_bool)]
"""A fact that is a number (quantity, price, percent): strings of numbers pass as before, booleans do not."""
Count = Annotated[int, BeforeValidator(_not_a_bool)]
"""A fact that is a whole number (days, months)."""


class Party(StrictModel):
    """One side of the negotiation: the buyer asks, the supplier offers."""

    name: str | None = Field(default=None, description="Person's name as written in the thread.")
    company: str | None = Field(default=None, description="Company name, e.g. 한빛무역 or Acme Co., Ltd.")
    email: str | None = Field(default=None, description="The person's e-mail address.")


class LineItem(StrictModel):
    """One product or service line of the latest offer."""

    product: str | None = Field(default=None, description="Product or service as named in the thread.")
    quantity: Number | None = Field(default=None, description="Ordered or quoted quantity.")
    unit: str | None = Field(default=None, description="Unit as written: 개, 대, 세트, pcs, kg, km, 야드, …")
    unit_price: Number | None = Field(
        default=None, description="Net price per unit after any discount, in `currency` units."
    )
    currency: str | None = Field(default=None, description="ISO 4217 code of unit_price.")
    discount_percent: Number | None = Field(default=None, description="Discount applied to the list price, in %.")


class KeyFacts(StrictModel):
    """The latest terms on the table at the end of a thread (SPEC.md §1).

    Every field is always present; ``None`` means 'not stated in the thread'.
    """

    buyer: Party | None = Field(default=None, description="The party that asks for the quote.")
    supplier: Party | None = Field(default=None, description="The party that makes the offer.")
    currency: str | None = Field(default=None, description="The thread's ISO 4217 currency code.")
    items: list[LineItem] = Field(default_factory=list, description="One entry per product or service line.")
    moq: Number | None = Field(default=None, description="Minimum order quantity.")
    delivery_lead_time_days: Count | None = Field(
        default=None, description="Calendar days from order to delivery (weeks × 7)."
    )
    delivery_date: str | None = Field(default=None, description="Fixed delivery date, YYYY-MM-DD.")
    shipping_method: ShippingMethod | None = Field(default=None, description="Only when the thread states it.")
    incoterm: Incoterm | None = Field(default=None, description="Incoterms 2020 code.")
    payment_terms: str | None = Field(default=None, description="Payment terms in the thread's own words.")
    warranty_months: Count | None = Field(default=None, description="Warranty in months (years × 12).")
    budget: Number | None = Field(default=None, description="The buyer's stated budget, in `currency` units.")
    quote_requested: bool | None = Field(default=None, description="The buyer asked for a quote document.")

    def canonical_json(self) -> str:
        """Stable serialisation, used to detect 'same facts as before'."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:32]


class Evidence(StrictModel):
    """Where a fact came from: a span of one message's normalized text."""

    field: str = Field(description="Dotted path of the fact, e.g. items.0.unit_price.")
    message_id: str = Field(description="Message-ID of the message that states it.")
    start: int = Field(ge=0, description="Start offset in that message's `text`.")
    end: int = Field(ge=0, description="End offset (exclusive) in that message's `text`.")
    text: str = Field(description="The quoted span, for reviewers.")
    attachment: int | None = Field(
        default=None,
        ge=0,
        description="Index into that message's `attachment_parts` when the span is in an attachment's text: "
        "`start` and `end` are then offsets in that part's `text`. None: the message's own text.",
    )


ConfidenceSource = Literal["label", "table", "sentence", "attachment", "inferred"]
"""How a fact was found: after a label ('Payment terms: …'), in a table row, in a sentence, in an attachment's
text, or inferred (computed from other facts, or voted from amounts no price settles)."""


class FactConfidence(StrictModel):
    """How sure the extractor is of one fact, and why: how it was found and how many messages agree."""

    source: ConfidenceSource = Field(
        description="How the value was found: label (after a field label such as 'Unit price:'), table (a "
        "table row under a header), sentence (prose), attachment (an attachment's text), inferred (computed from "
        "other statements, e.g. a price with its discount applied, or a default the thread implies)."
    )
    score: float = Field(
        ge=0,
        le=1,
        description="0–1: the source's strength, raised by messages agreeing, lowered when only the buyer stated a "
        "term the supplier sets. Below the quote service's threshold the fact is to be confirmed.",
    )
    messages_agreeing: int = Field(
        default=1, ge=0, description="Messages that state this same value (or accept it); 0 when inferred only."
    )
    engine: Literal["rules", "llm"] = Field(default="rules", description="Engine whose reading this scores.")


class FactConfidences(StrictModel):
    """A confidence per fact, beside the facts (never inside ``KeyFacts``): versioned on its own, so it can grow."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    facts: dict[str, FactConfidence] = Field(
        default_factory=dict,
        description="By dotted fact path as in `evidence` (payment_terms, items.0.unit_price, buyer.company); a "
        "non-null fact without an entry was not scored.",
    )

    def score(self, path: str) -> float | None:
        """The fact's score, None when it was not scored."""
        found = self.facts.get(path)
        return found.score if found is not None else None


PARTY_FIELDS: tuple[str, ...] = tuple(Party.model_fields)
ITEM_FIELDS: tuple[str, ...] = tuple(LineItem.model_fields)
SCALAR_FIELDS: tuple[str, ...] = tuple(f for f in KeyFacts.model_fields if f not in ("buyer", "supplier", "items"))
"""The key-fact fields by kind, in SPEC order: one definition for scoring, grounding and resolution."""


# --------------------------------------------------------------------------- emails.raw


class Attachment(StrictModel):
    """Attachment metadata only: the bytes never travel in events."""

    filename: str | None = Field(default=None, description="File name as sent.")
    content_type: str = Field(default="application/octet-stream", description="MIME type.")
    size: int = Field(default=0, ge=0, description="Decoded size in bytes.")


class AttachmentPart(StrictModel):
    """Text and tables read from one attached file, so extract reads a price list as it reads the body.

    The bytes never travel; only what was read from them, within ingest's attachment limits.
    """

    filename: str | None = Field(default=None, description="File name as sent (inside winmail.dat: as packed).")
    content_type: str = Field(default="application/octet-stream", description="MIME type as sent.")
    kind: AttachmentKind = Field(
        description="Format the file was read as (from its content, then its name and type): pdf, xlsx, xls, "
        "docx, csv, text, hwp, hwpx, tnef (winmail.dat), image or other."
    )
    text: str = Field(
        default="",
        description="The readable text in reading order; each table row is one line of cells joined by ' | ' "
        "(a header row first), so evidence offsets point into it. Empty when nothing could be read.",
    )
    tables: list[list[list[str]]] = Field(
        default_factory=list, description="Tables as rows of cell strings, in the order they appear in `text`."
    )
    pages: int | None = Field(default=None, ge=0, description="Pages (PDF) or sheets (spreadsheets) the file has.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Why the text is partial or missing: encrypted, corrupt, over a limit (size, pages, cells, "
        "decompression ratio, time), unreadable kind.",
    )


class EmailEvent(StrictModel):
    """A JSON e-mail event on quoteflow.emails.raw, for integrations that already parsed MIME.

    The alternative payload on the same topic is the raw RFC 5322 message bytes.
    """

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    kind: Literal["email"] = Field(default="email", description="Discriminator for JSON payloads.")
    tenant: TenantId = Field(default="default", description="Tenant (customer organisation) the mailbox belongs to.")
    mailbox: str | None = Field(default=None, description="Mailbox the message was received in.")
    from_: str = Field(alias="from", description="Sender, 'Name <addr>' or a bare address.")
    to: list[str] = Field(default_factory=list, description="Recipients.")
    cc: list[str] = Field(default_factory=list, description="Carbon-copy recipients.")
    subject: str = Field(default="", description="Subject line, decoded.")
    date: datetime | None = Field(default=None, description="Date header; arrival time when absent.")
    message_id: str = Field(description="Message-ID header, with or without angle brackets.")
    in_reply_to: str | None = Field(default=None, description="In-Reply-To header.")
    references: list[str] = Field(default_factory=list, description="References header, oldest first.")
    text: str | None = Field(default=None, description="Plain-text body.")
    html: str | None = Field(default=None, description="HTML body, used when there is no text body.")
    attachments: list[Attachment] = Field(default_factory=list, description="Attachment metadata.")


# --------------------------------------------------------------------------- threads.normalized


class NormalizedMessage(StrictModel):
    """One message of a thread with only its new content."""

    message_id: str = Field(description="Original Message-ID (without angle brackets).")
    in_reply_to: str | None = Field(default=None, description="Parent Message-ID, when known.")
    sender_name: str | None = Field(default=None, description="Display name of the sender.")
    sender_email: str | None = Field(default=None, description="Address of the sender.")
    sender_company: str | None = Field(default=None, description="Company, from signature or domain, if known.")
    to: list[str] = Field(default_factory=list, description="Recipient addresses.")
    cc: list[str] = Field(default_factory=list, description="Carbon-copy addresses.")
    role: Role = Field(default="unknown", description="buyer (asks) or supplier (offers).")
    date: datetime | None = Field(default=None, description="Date header (timezone-aware).")
    subject: str = Field(default="", description="Decoded subject.")
    language: Language = Field(default="en", description="Detected language of the new text.")
    text: str = Field(description="New content: quoted history, signature and disclaimers removed.")
    signature: str | None = Field(default=None, description="The signature block that was cut off, if any.")
    forwarded: list[NormalizedMessage] = Field(
        default_factory=list, description="Forwarded messages inside this one, each with its own sender."
    )
    attachments: list[Attachment] = Field(default_factory=list, description="Attachment metadata.")
    attachment_parts: list[AttachmentPart] = Field(
        default_factory=list,
        description="Text and tables read from the attachments (PDF, spreadsheets, Word, CSV, HWP/HWPX, files "
        "inside winmail.dat), in attachment order; attachments with nothing to read (images) have none.",
    )
    content_hash: str = Field(
        description="Hash of the message's raw bytes (of a JSON event's canonical form), for de-duplication; "
        "for a forwarded message inside another, of its sender, date and text."
    )
    arrival: int = Field(default=0, ge=0, description="Order of arrival, used when dates tie.")
    warnings: list[str] = Field(
        default_factory=list, description="What normalization had to cut or guess (MIME parts, charset, size)."
    )


class NormalizedThread(StrictModel):
    """The conversation so far, oldest message first, on quoteflow.threads.normalized."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    thread_id: str = Field(description="Stable id of the conversation; the Kafka key.")
    tenant: TenantId = Field(default="default", description="Tenant the mailbox belongs to.")
    version: int = Field(default=1, ge=1, description="Increases by one with every message added.")
    subject: str = Field(default="", description="Normalized subject (no RE:/FW:/회신: prefixes).")
    language: Language = Field(default="en", description="Dominant language of the thread.")
    messages: list[NormalizedMessage] = Field(description="Messages in conversation order.")
    review_reasons: list[str] = Field(
        default_factory=list,
        description="Why a person should check the thread's price-bearing facts: a party that joined from a new "
        "or look-alike domain, sender roles guessed from the text without QUOTEFLOW_OWN_DOMAINS. Extract copies "
        "them into warnings and sets needs_review when it finds prices, discounts or payment terms.",
    )
    started_at: datetime | None = Field(
        default=None,
        description="When ingest began this thread's state (kept by every later version). A thread whose state "
        "expired (QUOTEFLOW_THREAD_TTL_DAYS) starts again at version 1 with a later started_at, so its new "
        "versions are not taken for replays of the old ones.",
    )
    updated_at: datetime = Field(default_factory=utc_now, description="When this version was produced.")


# --------------------------------------------------------------------------- facts.extracted


class FactsExtracted(StrictModel):
    """Extraction result for one thread version, on quoteflow.facts.extracted."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    thread_id: str = Field(description="Thread the facts describe; the Kafka key.")
    tenant: TenantId = Field(default="default", description="Tenant the thread belongs to.")
    thread_version: int = Field(default=1, ge=1, description="NormalizedThread.version this was extracted from.")
    thread_started_at: datetime | None = Field(
        default=None, description="NormalizedThread.started_at of that version: versions count from it."
    )
    language: Language = Field(default="en", description="Thread language, decides the quote template.")
    facts: KeyFacts = Field(description="The SPEC.md key facts.")
    vat_status: VatStatus | None = Field(
        default=None, description="VAT as stated in the thread: excluded (부가세 별도), included (포함) or exempt."
    )
    incoterm_place: str | None = Field(default=None, description="Named place of the Incoterm, e.g. Busan.")
    summary: str = Field(default="", description="Per-message summary followed by the final terms.")
    tags: list[str] = Field(default_factory=list, description="Tags from the taxonomy plus keywords.")
    engine: Literal["rules", "llm", "hybrid"] = Field(
        default="rules",
        description="Engine that produced the facts: rules, llm, or hybrid (rules completed by the llm).",
    )
    model: str | None = Field(default=None, description="Model name, for the llm engine.")
    adapter_id: str | None = Field(default=None, description="LoRA adapter used, for the llm engine.")
    evidence: list[Evidence] = Field(default_factory=list, description="Where each non-null fact was found.")
    value_sources: dict[str, Literal["rules", "llm"]] = Field(
        default_factory=dict,
        description="Engine that gave each non-null fact, by dotted path (e.g. items.0.unit_price: llm).",
    )
    confidence: FactConfidences | None = Field(
        default=None,
        description="A confidence per fact (how it was found, messages agreeing, a 0–1 score). None: the engine "
        "did not score its facts (events before confidence existed, the llm engine alone).",
    )
    warnings: list[str] = Field(default_factory=list, description="Dropped or doubtful values, fallbacks.")
    needs_review: bool = Field(default=False, description="A person should check these facts.")
    extracted_at: datetime = Field(default_factory=utc_now, description="When the extraction ran.")


# --------------------------------------------------------------------------- quotes.generated


class QuoteLine(StrictModel):
    """A priced line of the quote document (money as decimal strings)."""

    product: str = Field(description="Product or service.")
    quantity: Decimal | None = Field(default=None, description="Quantity, None when to be confirmed.")
    unit: str | None = Field(default=None, description="Unit as written.")
    unit_price: Decimal | None = Field(default=None, description="Net unit price.")
    amount: Decimal | None = Field(default=None, description="quantity × unit_price, rounded to the currency.")


class QuoteGenerated(StrictModel):
    """A rendered quote document, on quoteflow.quotes.generated."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    thread_id: str = Field(description="Thread the quote answers; the Kafka key.")
    tenant: TenantId = Field(default="default", description="Tenant the thread belongs to.")
    quote_number: str = Field(description="Quote number, e.g. Q-2026-000123; stable across revisions.")
    revision: int = Field(default=1, ge=1, description="1 for the first document, then 2, 3, …")
    language: Language = Field(default="en", description="Language of the document.")
    currency: str | None = Field(default=None, description="ISO 4217 currency of all amounts.")
    lines: list[QuoteLine] = Field(default_factory=list, description="Priced lines.")
    subtotal: Decimal | None = Field(default=None, description="Sum of line amounts.")
    vat: Decimal | None = Field(default=None, description="VAT amount (0 when included or exempt).")
    total: Decimal | None = Field(default=None, description="Grand total.")
    markdown: str = Field(description="The document as Markdown.")
    html: str = Field(description="The document as standalone HTML.")
    needs_review: bool = Field(default=False, description="Facts are missing or doubtful.")
    missing_fields: list[str] = Field(default_factory=list, description="Facts the quote needed but lacked.")
    facts_hash: str = Field(description="Hash of the facts rendered, so identical facts give no new revision.")
    issue_date: date | None = Field(default=None, description="Issue date of the document.")
    valid_until: date | None = Field(default=None, description="Last day the quote is valid.")
    vat_mode: VatStatus | None = Field(
        default=None, description="How VAT was applied (stated in the thread or default)."
    )
    pdf_path: str | None = Field(default=None, description="Where the PDF was written, when the service writes PDFs.")
    engine: str | None = Field(default=None, description="Extraction engine the facts came from.")
    generated_at: datetime = Field(default_factory=utc_now, description="When the document was rendered.")


# --------------------------------------------------------------------------- facts.corrected


class FactsCorrected(StrictModel):
    """A person's corrected key facts for a thread, on quoteflow.facts.corrected."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    thread_id: str = Field(description="Thread the correction is for; the Kafka key.")
    tenant: TenantId = Field(default="default", description="Tenant the thread belongs to.")
    facts: KeyFacts = Field(description="The corrected key facts, complete.")
    summary: str | None = Field(default=None, description="Corrected summary, when the reviewer wrote one.")
    tags: list[str] | None = Field(default=None, description="Corrected tags, when given.")
    corrected_by: str | None = Field(default=None, description="Who corrected it (user id, not an address).")
    corrected_at: datetime = Field(default_factory=utc_now, description="When it was corrected.")
    confirmed: bool = Field(
        default=False,
        description="A person checked these facts against the mail and approved them (as extracted, or with "
        "changed_fields corrected): curated training data. False for corrections from other systems.",
    )
    changed_fields: list[str] = Field(
        default_factory=list,
        description="Dotted paths the reviewer changed from the extracted facts (e.g. items.0.unit_price); "
        "empty when approved as extracted.",
    )
    thread_version: int | None = Field(
        default=None,
        ge=1,
        description="FactsExtracted.thread_version the correction was made on; unset: the latest facts quoted.",
    )
    thread_started_at: datetime | None = Field(
        default=None, description="FactsExtracted.thread_started_at of that version, when known."
    )


class FewShotEntry(StrictModel):
    """One few-shot example in the store (hash ``fewshot:{tenant}``, field: thread id, see shared/keys.py): the
    trainer writes every accepted correction with its thread; extract's LLM engine shows the nearest ones to
    the model. Not an event on a topic, but a contract between the two services all the same."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    thread: NormalizedThread = Field(description="The corrected thread, as ingest normalized it.")
    facts: KeyFacts = Field(description="Its corrected key facts.")
    summary: str | None = Field(default=None, description="Its corrected summary, when the reviewer wrote one.")
    tags: list[str] | None = Field(default=None, description="Its corrected tags, when given.")


# --------------------------------------------------------------------------- models.adapters


class AdapterEvent(StrictModel):
    """A trained LoRA adapter and the verdict of the evaluation gate, on quoteflow.models.adapters."""

    schema_version: Literal[1] = Field(default=1, description="Version of this model.")
    adapter_id: str = Field(description="Adapter name as the inference server knows it.")
    base_model: str = Field(description="Base model path or id the adapter was trained on.")
    path: str = Field(description="Folder with adapter_config.json and adapter_model.safetensors.")
    promoted: bool = Field(description="Whether extract should now use this adapter.")
    previous_adapter_id: str | None = Field(default=None, description="Adapter in service before this one.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Evaluation metrics, e.g. key_fact_f1.")
    baseline_metrics: dict[str, float] = Field(
        default_factory=dict, description="Same metrics for the adapter in service."
    )
    dataset_size: int = Field(default=0, ge=0, description="Training examples used.")
    recipe: dict[str, Any] = Field(default_factory=dict, description="The training recipe, as run.")
    git_hash: str | None = Field(default=None, description="Code version that trained it.")
    reason: str = Field(default="", description="Why it was or was not promoted.")
    created_at: datetime = Field(default_factory=utc_now, description="When training finished.")


ALL_EVENT_MODELS: tuple[type[StrictModel], ...] = (
    EmailEvent,
    NormalizedThread,
    FactsExtracted,
    QuoteGenerated,
    FactsCorrected,
    AdapterEvent,
)
