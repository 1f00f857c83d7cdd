"""Extract's own metrics, and the LLM usage of the thread being extracted.

- ``quoteflow_extract_superseded_total``: thread versions not extracted because a newer version of
  the same thread came in the same batch (:mod:`services.extract.burst`);
- ``quoteflow_extract_llm_calls_per_thread``, ``quoteflow_extract_llm_prompt_tokens_per_thread``,
  ``quoteflow_extract_llm_generated_tokens_per_thread``: what one thread cost the LLM engine
  (calls: every request, repairs and retries included; tokens: the server's usage counts when it
  returns them, else estimates, see :class:`~services.extract.llm.metered.MeteredBackend`).

The per-thread figures travel in a context variable: the handler opens a :class:`LlmUsage`
around ``engine.extract`` (:func:`track_llm_usage`), the metered backend adds every request to
it (:func:`record_llm_call`), and tasks the engine starts share it (they copy the context, and
with it the same object).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

CALL_BUCKETS = (0, 1, 2, 3, 4, 6, 8, 12)
TOKEN_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


@dataclass
class LlmUsage:
    """LLM requests made for one thread and the tokens they took."""

    calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    estimated: bool = False
    """Some count is an estimate (the server did not return usage)."""


_USAGE: ContextVar[LlmUsage | None] = ContextVar("quoteflow_llm_usage", default=None)


@contextmanager
def track_llm_usage() -> Iterator[LlmUsage]:
    """A fresh :class:`LlmUsage` that LLM requests made inside the block add to."""
    usage = LlmUsage()
    token = _USAGE.set(usage)
    try:
        yield usage
    finally:
        _USAGE.reset(token)


def record_llm_call(
    *, ok: bool, prompt_tokens: int = 0, generated_tokens: int = 0, estimated: bool = False
) -> LlmUsage | None:
    """Add one request to the thread's usage (nothing outside :func:`track_llm_usage`)."""
    usage = _USAGE.get()
    if usage is None:
        return None
    usage.calls += 1
    if not ok:
        usage.failed_calls += 1
        return usage
    usage.prompt_tokens += prompt_tokens
    usage.generated_tokens += generated_tokens
    usage.estimated = usage.estimated or estimated
    return usage


@dataclass
class ExtractMetrics:
    """The metrics above, one set per registry (service)."""

    superseded: Counter
    llm_calls: Histogram
    llm_prompt_tokens: Histogram
    llm_generated_tokens: Histogram

    def observe_thread(self, service: str, usage: LlmUsage) -> None:
        self.llm_calls.labels(service).observe(usage.calls)
        self.llm_prompt_tokens.labels(service).observe(usage.prompt_tokens)
        self.llm_generated_tokens.labels(service).observe(usage.generated_tokens)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, ExtractMetrics] = weakref.WeakKeyDictionary()


def extract_metrics(registry: CollectorRegistry) -> ExtractMetrics:
    """The extract metrics registered on ``registry`` (registered on first use)."""
    if (found := _BY_REGISTRY.get(registry)) is not None:
        return found
    metrics = ExtractMetrics(
        superseded=Counter(
            "quoteflow_extract_superseded",
            "Thread versions not extracted: a newer version of the thread came in the same batch.",
            ["service"],
            registry=registry,
        ),
        llm_calls=Histogram(
            "quoteflow_extract_llm_calls_per_thread",
            "LLM requests per extracted thread (repairs and retries included; 0: the breaker answered).",
            ["service"],
            registry=registry,
            buckets=CALL_BUCKETS,
        ),
        llm_prompt_tokens=Histogram(
            "quoteflow_extract_llm_prompt_tokens_per_thread",
            "Prompt tokens of all LLM requests of one thread (the server's count, else an estimate).",
            ["service"],
            registry=registry,
            buckets=TOKEN_BUCKETS,
        ),
        llm_generated_tokens=Histogram(
            "quoteflow_extract_llm_generated_tokens_per_thread",
            "Tokens generated for one thread (the server's count, else an estimate).",
            ["service"],
            registry=registry,
            buckets=TOKEN_BUCKETS,
        ),
    )
    _BY_REGISTRY[registry] = metrics
    return metrics
