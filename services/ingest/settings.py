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
