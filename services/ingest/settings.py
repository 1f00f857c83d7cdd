"""Ingest options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import Settings


class IngestSettings(Settings):
    """Limits and identity used when normalizing mail."""

    service_name: str = "ingest"
    own_domains: list[str] = Field(
        default_factory=list,
        description="Mail domains of our own company (JSON list); their senders are on the `own_role` side.",
    )
    own_role: Literal["supplier", "buyer"] = Field(
        default="supplier", description="The side our own company plays in a thread (senders from own_domains)."
    )
    max_email_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Larger raw messages go to the DLQ.")
    batch_decode_max_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="Messages up to this size are decoded together, one worker-thread hop per fetched batch "
        "(the hop costs more CPU than decoding a small mail); larger ones each in a worker thread of their own.",
    )
    max_mime_parts: int = Field(default=200, ge=1, description="MIME parts walked per message at most.")
    max_mime_depth: int = Field(default=8, ge=1, description="Deepest nesting of multiparts/forwards followed.")
    max_text_chars: int = Field(
        default=100_000, ge=1000, description="New text kept per message; longer bodies are cut (with a warning)."
    )
    max_messages_per_thread: int = Field(default=200, ge=1, description="Thread state keeps the newest N messages.")
    thread_ttl_days: int = Field(default=180, ge=1, description="Thread state expires after this many idle days.")
    dedup_ttl_days: int = Field(
        default=30, ge=1, description="How long a processed Message-ID (and raw-bytes hash) is remembered."
    )
    read_attachments: bool = Field(
        default=True,
        description="Read the text and tables of attached files (PDF, XLSX, XLS, DOCX, CSV, HWP, HWPX, winmail.dat) "
        "into the message's attachment_parts.",
    )
    max_attachments: int = Field(
        default=10, ge=0, description="Attachments read per message at most (the rest are listed)."
    )
    max_attachment_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Larger attached files are listed but not read (with a warning)."
    )
    max_attachment_pages: int = Field(
        default=50, ge=1, description="PDF pages (and spreadsheet sheets) read per attachment; the rest is skipped."
    )
    max_attachment_cells: int = Field(
        default=20_000, ge=100, description="Table cells read per attachment (spreadsheets, PDF and Word tables)."
    )
    max_attachment_chars: int = Field(
        default=50_000,
        ge=1000,
        description="Text kept per attachment; longer text is cut (with a warning). All attachments of a message "
        "together keep at most max_text_chars (text and table cells).",
    )
    max_decompressed_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024 * 1024,
        description="Uncompressed size a zip-based file (XLSX, DOCX, HWPX) or a compressed HWP stream may reach.",
    )
    max_decompression_ratio: int = Field(
        default=100,
        ge=2,
        description="Largest uncompressed/compressed ratio of any member of a zip-based file: a zip bomb is refused "
        "before anything is inflated.",
    )
    attachment_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Wall-clock time per attachment. Readers stop at it with what they have; a reader still busy a "
        "second later is killed (see attachment_sandbox).",
    )
    attachment_sandbox: bool = Field(
        default=True,
        description="Read each attachment in a worker process (kept warm) with a memory cap, killed when it overruns "
        "attachment_timeout_s. Off: read in-process, with the cooperative time checks only.",
    )
    attachment_memory_mb: int = Field(
        default=1024, ge=64, description="Address-space cap of the worker process that reads attachments (MiB)."
    )
