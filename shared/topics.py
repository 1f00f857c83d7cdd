"""Topic names, written once. Dead letters of a topic go to ``<topic>.dlq``."""

from __future__ import annotations

EMAILS_RAW = "quoteflow.emails.raw"
THREADS_NORMALIZED = "quoteflow.threads.normalized"
FACTS_EXTRACTED = "quoteflow.facts.extracted"
QUOTES_GENERATED = "quoteflow.quotes.generated"
FACTS_CORRECTED = "quoteflow.facts.corrected"
MODELS_ADAPTERS = "quoteflow.models.adapters"

PIPELINE_TOPICS: tuple[str, ...] = (
    EMAILS_RAW,
    THREADS_NORMALIZED,
    FACTS_EXTRACTED,
    QUOTES_GENERATED,
    FACTS_CORRECTED,
    MODELS_ADAPTERS,
)


def dlq(topic: str) -> str:
    """Dead-letter topic of ``topic``."""
    return f"{topic}.dlq"


ALL_TOPICS: tuple[str, ...] = PIPELINE_TOPICS + tuple(dlq(t) for t in PIPELINE_TOPICS)
