"""Redis keys that more than one service reads or writes (each service's own keys stay beside its code).

Keys are ``<kind>:{tenant}:{id}``: tenant ids hold no ``:`` (shared/tenants.py), so one tenant's
keys never reach into another's.
"""

from __future__ import annotations


def thread_key(tenant: str, thread_id: str) -> str:
    """Where ingest keeps the latest NormalizedThread of a thread (the trainer and the review desk read it)."""
    return f"thread:{tenant}:{thread_id}"


PROMOTED_ADAPTER_KEY = "adapters:promoted"
"""The AdapterEvent JSON of the adapter in service: the trainer writes it on promotion, extract reads it."""


def fewshot_key(tenant: str) -> str:
    """Redis hash of a tenant's few-shot examples (field: thread id; value: a :class:`shared.events.FewShotEntry`):
    the trainer writes every accepted correction, extract's LLM engine reads them."""
    return f"fewshot:{tenant}"
