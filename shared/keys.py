"""Redis keys that more than one service reads (each service's own keys stay beside its code).

Keys are ``<kind>:{tenant}:{id}``: tenant ids hold no ``:`` (shared/tenants.py), so one tenant's
keys never reach into another's.
"""

from __future__ import annotations


def thread_key(tenant: str, thread_id: str) -> str:
    """Where ingest keeps the latest NormalizedThread of a thread (the trainer and the review desk read it)."""
    return f"thread:{tenant}:{thread_id}"
