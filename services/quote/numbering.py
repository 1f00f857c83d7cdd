"""Quote numbers and revisions, kept in the store (Redis).

A thread keeps one quote number forever (Q-<year>-<6 digits>, a counter per tenant
and year); each new set of facts is the next revision; identical facts produce
none. The number is reserved before publishing (a crash wastes at most one
counter value); the revision is recorded only after the publish succeeded, so a
redelivered message re-publishes the same number and revision, never a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from shared.store import Store


@dataclass(frozen=True)
class QuoteSlot:
    """Number and revision a new document gets."""

    quote_number: str
    revision: int


class QuoteBook:
    """Assigns numbers and revisions; records what was published."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def next_slot(self, tenant: str, thread_id: str, facts_hash: str, today: date) -> QuoteSlot | None:
        """The slot for these facts, or None when they equal the last published revision."""
        state_key, number_key = f"quote:{tenant}:{thread_id}:state", f"quote:{tenant}:{thread_id}:number"
        stored = await self.store.read(keys=[state_key, number_key])
        state_raw, existing = stored.values[state_key], stored.values[number_key]
        state = json.loads(state_raw) if state_raw else None
        if state and state["facts_hash"] == facts_hash:
            return None
        number = existing.decode() if existing else await self._new_number(tenant, thread_id, today)
        revision = (state["revision"] + 1) if state else 1
        return QuoteSlot(quote_number=number, revision=revision)

    async def _new_number(self, tenant: str, thread_id: str, today: date) -> str:
        """The next counter value, unless a concurrent delivery of the thread reserved one first."""
        key = f"quote:{tenant}:{thread_id}:number"
        counter = await self.store.incr(f"quote-counter:{tenant}:{today.year}")
        candidate = f"Q-{today.year}-{counter:06d}"
        if await self.store.set(key, candidate, only_if_absent=True):
            return candidate
        won = await self.store.get(key)
        return won.decode() if won else candidate

    async def record(self, tenant: str, thread_id: str, slot: QuoteSlot, facts_hash: str) -> None:
        """Remember the published revision (after the publish, never before)."""
        state = {"quote_number": slot.quote_number, "revision": slot.revision, "facts_hash": facts_hash}
        await self.store.set(f"quote:{tenant}:{thread_id}:state", json.dumps(state))
