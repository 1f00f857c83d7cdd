"""Quote numbers and revisions, kept in the store (Redis).

A thread keeps one quote number forever (Q-<year>-<6 digits>, a counter per tenant
and year, reserved before anything is published: a crash wastes at most one counter
value). Revisions follow the order of the facts, not the order they arrive in:

- The order of facts is ``(thread_started_at, thread_version, extracted_at)``: a thread
  whose ingest state expired starts again at version 1 with a later ``thread_started_at``,
  and its versions are newer than any of the old ones. Facts older
  than the newest already quoted (a redelivery after a crash, a DLQ replay) make no
  revision: they are *stale* and the caller logs and counts them. Without this a replay
  re-published superseded prices as a new revision (65.5 → 55.25 → 65.5).
- The same thread version with different content (a re-extraction, the LLM after a
  rules-engine fallback) is a new revision only if it was extracted no earlier than the
  facts already quoted for that version: the later extraction wins, a redelivered
  earlier one is stale. Events without a comparable time count as not older.
- Identical facts (same hash) never make a revision, whatever their version; a newer
  version with identical facts moves the recorded version forward, so the versions
  before it stay stale.

State ``quote:{tenant}:{thread_id}:state`` goes through three steps, each written with
:meth:`Store.compare_and_set` against the state read just before (two deliveries racing
on one thread: one write wins, the other reads again and decides anew):

1. *claim*: the next revision with the facts' hash and order, ``published=false``;
2. publish the document;
3. *record*: ``published=true``.

A redelivery of facts whose claim is not yet recorded gets the same number and revision
again (at least once, idempotent); once recorded, the same facts publish nothing. A
claim whose document never went out (it became a dead letter) leaves a gap in the
revision numbers, never one revision with two contents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from shared.ordering import FactsOrder
from shared.store import Store

MAX_CLAIM_ATTEMPTS = 20
"""Re-reads after lost compare-and-set races before giving up (the consumer then retries the record)."""


@dataclass(frozen=True)
class QuoteSlot:
    """Number and revision a new document gets."""

    quote_number: str
    revision: int


class Verdict(StrEnum):
    """What to do with a set of facts."""

    NEW = "new"
    """A new revision, claimed: render and publish it."""
    REPEAT = "repeat"
    """The revision already claimed for these facts and not yet recorded: publish it (again)."""
    UNCHANGED = "unchanged"
    """The same facts as the recorded revision: publish nothing."""
    STALE = "stale"
    """Older than facts already quoted: publish nothing (log and count)."""


@dataclass(frozen=True)
class Decision:
    """The verdict for one delivery of facts, with the slot to publish (NEW and REPEAT)."""

    verdict: Verdict
    slot: QuoteSlot | None = None
    reason: str = ""
    """For STALE: older_thread, older_version or older_extraction; a human-readable detail is in ``detail``."""
    detail: str = ""
    expected: bytes | None = field(default=None, repr=False)
    """The state as read (None: none yet); the claim is written only over exactly this."""
    claim: str | None = field(default=None, repr=False)
    """The state to write (None: nothing to write)."""

    @property
    def publish(self) -> bool:
        return self.verdict in (Verdict.NEW, Verdict.REPEAT)


@dataclass(frozen=True)
class _State:
    """The thread's quote state as stored (JSON)."""

    quote_number: str
    revision: int
    facts_hash: str
    thread_version: int
    extracted_at: datetime | None
    published: bool
    thread_started_at: datetime | None = None

    @property
    def order(self) -> FactsOrder:
        return FactsOrder(self.thread_version, self.extracted_at, self.thread_started_at)

    @property
    def slot(self) -> QuoteSlot:
        return QuoteSlot(self.quote_number, self.revision)

    def dumps(self) -> str:
        data: dict[str, Any] = {
            "quote_number": self.quote_number,
            "revision": self.revision,
            "facts_hash": self.facts_hash,
            "thread_version": self.thread_version,
            "extracted_at": self.extracted_at.isoformat() if self.extracted_at else None,
            "thread_started_at": self.thread_started_at.isoformat() if self.thread_started_at else None,
            "published": self.published,
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def loads(cls, raw: bytes) -> _State:
        """Parse a state; one written before versions were kept counts as version 0, published."""
        data = json.loads(raw)
        stamp, started = data.get("extracted_at"), data.get("thread_started_at")
        return cls(
            quote_number=data["quote_number"],
            revision=int(data["revision"]),
            facts_hash=data["facts_hash"],
            thread_version=int(data.get("thread_version", 0)),
            extracted_at=datetime.fromisoformat(stamp) if stamp else None,
            published=bool(data.get("published", True)),
            thread_started_at=datetime.fromisoformat(started) if started else None,
        )

    def moved_to(self, order: FactsOrder) -> _State | None:
        """This state with a newer order, or None when ``order`` is not newer."""
        if not self.order.older_than(order):
            return None
        return replace(
            self,
            thread_version=order.thread_version,
            extracted_at=order.extracted_at,
            thread_started_at=order.thread_started_at or self.thread_started_at,
        )


class ClaimConflict(RuntimeError):
    """Concurrent deliveries kept changing the state; the caller retries the record later."""


class QuoteBook:
    """Assigns numbers and revisions in facts order; records what was published."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _keys(tenant: str, thread_id: str) -> tuple[str, str]:
        return f"quote:{tenant}:{thread_id}:state", f"quote:{tenant}:{thread_id}:number"

    async def decide(
        self,
        tenant: str,
        thread_id: str,
        facts_hash: str,
        today: date,
        *,
        thread_version: int = 1,
        extracted_at: datetime | None = None,
        thread_started_at: datetime | None = None,
    ) -> Decision:
        """The verdict for these facts against the stored state (reads only, except a new number)."""
        raw, number = await self._read_numbered(tenant, thread_id, today)  # one round trip, numbered if new
        order = FactsOrder(thread_version, extracted_at, thread_started_at)
        if raw is None:
            claimed = _State(number, 1, facts_hash, thread_version, extracted_at, False, thread_started_at)
            return Decision(Verdict.NEW, claimed.slot, expected=None, claim=claimed.dumps())
        state = _State.loads(raw)
        if order.older_than(state.order):
            reason = "older_version" if thread_version < state.thread_version else "older_extraction"
            if None not in (order.thread_started_at, state.thread_started_at) and order.thread_started_at != (
                state.thread_started_at
            ):
                reason = "older_thread"
            detail = (
                f"facts of thread version {thread_version} (extracted {extracted_at}, thread started "
                f"{thread_started_at}) are older than version {state.thread_version} (extracted "
                f"{state.extracted_at}, thread started {state.thread_started_at}) already quoted as revision "
                f"{state.revision}"
            )
            return Decision(Verdict.STALE, reason=reason, detail=detail)
        moved = state.moved_to(order)
        if facts_hash == state.facts_hash:
            verdict = Verdict.UNCHANGED if state.published else Verdict.REPEAT
            slot = None if state.published else state.slot
            return Decision(verdict, slot, expected=raw, claim=moved.dumps() if moved else None)
        claimed = _State(
            state.quote_number,
            state.revision + 1,
            facts_hash,
            thread_version,
            extracted_at,
            False,
            thread_started_at or state.thread_started_at,
        )
        return Decision(Verdict.NEW, claimed.slot, expected=raw, claim=claimed.dumps())

    async def claim(self, tenant: str, thread_id: str, decision: Decision) -> bool:
        """Write the decision's state over the state it was decided on; False if that changed meanwhile."""
        if decision.claim is None:
            return True
        state_key, _ = self._keys(tenant, thread_id)
        return await self.store.compare_and_set(state_key, decision.expected, decision.claim)

    async def next_slot(
        self,
        tenant: str,
        thread_id: str,
        facts_hash: str,
        today: date,
        *,
        thread_version: int = 1,
        extracted_at: datetime | None = None,
        thread_started_at: datetime | None = None,
    ) -> Decision:
        """Decide and claim atomically: re-decides after losing a race to another delivery."""
        for _ in range(MAX_CLAIM_ATTEMPTS):
            decision = await self.decide(
                tenant,
                thread_id,
                facts_hash,
                today,
                thread_version=thread_version,
                extracted_at=extracted_at,
                thread_started_at=thread_started_at,
            )
            if await self.claim(tenant, thread_id, decision):
                return decision
        raise ClaimConflict(f"quote state of {thread_id} kept changing under {MAX_CLAIM_ATTEMPTS} attempts")

    async def release(self, tenant: str, thread_id: str, decision: Decision) -> bool:
        """Undo a NEW claim whose document was never published (rendering failed): no revision gap.

        Only NEW claims: a REPEAT slot may have been published by an earlier attempt.
        """
        if decision.verdict is not Verdict.NEW or decision.claim is None:
            return False
        state_key, _ = self._keys(tenant, thread_id)
        if decision.expected is None:
            return await self.store.delete_if_equals(state_key, decision.claim)
        return await self.store.compare_and_set(state_key, decision.claim, decision.expected)

    async def _read_numbered(self, tenant: str, thread_id: str, today: date) -> tuple[bytes | None, str]:
        """The thread's stored state and its number; a thread without state and number takes the next counter
        value in the same atomic step (racing deliveries take one counter value, not one each: no gaps, and
        no later value winning over an earlier one)."""
        state_key, number_key = self._keys(tenant, thread_id)
        raw, number = await self.store.read_counted(
            state_key, number_key, f"quote-counter:{tenant}:{today.year}", f"Q-{today.year}-"
        )
        if raw is None and number is None:  # read_counted numbers every thread that has no state
            raise RuntimeError(f"no quote number for {thread_id}")
        return raw, number or ""

    async def claim_pending(self, tenant: str, thread_id: str) -> bool:
        """Whether a revision is claimed but not yet recorded (its document is on its way)."""
        state_key, _ = self._keys(tenant, thread_id)
        raw = await self.store.get(state_key)
        return raw is not None and not _State.loads(raw).published

    async def record(
        self,
        tenant: str,
        thread_id: str,
        slot: QuoteSlot,
        facts_hash: str,
        claimed: str | None = None,
        also_set: Mapping[str, bytes | str] | None = None,
    ) -> bool:
        """Mark the claimed revision published (after the publish, never before); ``also_set`` is written too
        (whatever the outcome).

        ``claimed``: the state this delivery claimed (:attr:`Decision.claim`); while it is still the stored
        one, one atomic step records it and writes ``also_set``, without reading the state back first.
        False when the state has moved on to another claim meanwhile (a racing newer delivery):
        that claim stays, this revision is simply not the latest.
        """
        state_key, _ = self._keys(tenant, thread_id)
        extra = dict(also_set or {})
        if claimed is not None:
            ours = _State.loads(claimed.encode())
            if ours.slot == slot and ours.facts_hash == facts_hash and not ours.published:
                writes = self.store.batch()
                writes.set(state_key, replace(ours, published=True).dumps())
                for key, value in extra.items():
                    writes.set(key, value)
                if await writes.execute(only_while=[(state_key, claimed)]) is None:
                    return True
        for key, value in extra.items():
            await self.store.set(key, value)
        for _ in range(MAX_CLAIM_ATTEMPTS):
            raw = await self.store.get(state_key)
            state = _State.loads(raw) if raw else None
            if state is None or state.slot != slot or state.facts_hash != facts_hash:
                return False
            if state.published:
                return True
            if await self.store.compare_and_set(state_key, raw, replace(state, published=True).dumps()):
                return True
        raise ClaimConflict(f"quote state of {thread_id} kept changing under {MAX_CLAIM_ATTEMPTS} attempts")
