"""Thread assembly and de-duplication, with state in the store (Redis).

Threads are found by Message-ID / In-Reply-To / References, then by normalized
subject plus participants. A new thread's id is derived from its root message id,
so the same conversation gets the same id even if state was lost.

Order of effects for at-least-once without loss: :meth:`ThreadRepository.assemble`
only reads; the caller publishes the thread; only then :meth:`commit` writes
the thread state and marks the message done. A crash in between re-publishes
the same thread version, which downstream treats as a no-op.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from services.ingest.normalize import IncomingEmail, normalize_subject
from services.ingest.settings import IngestSettings
from shared.events import Language, NormalizedMessage, NormalizedThread
from shared.store import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_S = 86_400


def thread_id_for(tenant: str, root_message_id: str) -> str:
    """Deterministic thread id from the conversation's root message."""
    return "t-" + hashlib.sha256(f"{tenant}\0{root_message_id}".encode()).hexdigest()[:20]


def conversation_order(messages: list[NormalizedMessage]) -> list[NormalizedMessage]:
    """By Date, then arrival: out-of-order delivery still reads in the order written."""
    return sorted(messages, key=lambda m: (m.date or _EPOCH, m.arrival))


def thread_language(messages: list[NormalizedMessage]) -> Language:
    langs = {m.language for m in messages if m.text.strip()}
    if not langs:
        return "en"
    if len(langs) == 1:
        return next(iter(langs))
    return "mixed"


def assign_roles(messages: list[NormalizedMessage]) -> list[NormalizedMessage]:
    """Buyer asks, supplier offers: own-domain senders are already 'supplier';
    otherwise the thread's first sender is the buyer and the other party the supplier."""
    suppliers = {m.sender_email for m in messages if m.role == "supplier"}
    first = next((m.sender_email for m in messages if m.sender_email not in suppliers), None)
    if suppliers:
        buyers = {m.sender_email for m in messages if m.sender_email not in suppliers}
    else:
        buyers = {first} if first else set()
    out = []
    for m in messages:
        if m.sender_email in suppliers:
            role = "supplier"
        elif m.sender_email in buyers:
            role = "buyer"
        else:
            role = "supplier" if buyers else "unknown"
        out.append(m if m.role == role else m.model_copy(update={"role": role}))
    return out


class ThreadRepository:
    """Reads and writes thread state; knows nothing of Kafka."""

    def __init__(self, store: Store, settings: IngestSettings) -> None:
        self.store = store
        self.settings = settings

    def _subject_key(self, incoming: IncomingEmail) -> str | None:
        subject = normalize_subject(incoming.raw_subject).lower()
        if not subject:
            return None
        return f"subject:{incoming.tenant}:{hashlib.sha256(subject.encode()).hexdigest()[:16]}"

    async def is_duplicate(self, incoming: IncomingEmail) -> bool:
        msg = incoming.message
        return await self.store.exists(f"seen:{incoming.tenant}:id:{msg.message_id}") or await self.store.exists(
            f"seen:{incoming.tenant}:hash:{msg.content_hash}"
        )

    async def find_thread_id(self, incoming: IncomingEmail) -> str:
        tenant = incoming.tenant
        for ref in [incoming.message.message_id, *reversed(incoming.references)]:
            found = await self.store.get(f"msg:{tenant}:{ref}")
            if found:
                return found.decode()
        subject_key = self._subject_key(incoming)
        if subject_key and not incoming.references:
            found = await self.store.hget(subject_key, "thread")
            if found:
                return found.decode()
        root = incoming.references[0] if incoming.references else incoming.message.message_id
        return thread_id_for(tenant, root)

    async def load(self, tenant: str, thread_id: str) -> NormalizedThread | None:
        raw = await self.store.get(f"thread:{tenant}:{thread_id}")
        return NormalizedThread.model_validate_json(raw) if raw else None

    async def assemble(self, incoming: IncomingEmail) -> NormalizedThread:
        """The thread with this message added (not yet saved)."""
        thread_id = await self.find_thread_id(incoming)
        current = await self.load(incoming.tenant, thread_id)
        messages = [m for m in (current.messages if current else []) if m.message_id != incoming.message.message_id]
        messages.append(incoming.message)
        messages = assign_roles(conversation_order(messages))[-self.settings.max_messages_per_thread :]
        first_subject = messages[0].subject if messages else incoming.raw_subject
        return NormalizedThread(
            thread_id=thread_id,
            tenant=incoming.tenant,
            version=(current.version + 1) if current else 1,
            subject=normalize_subject(first_subject),
            language=thread_language(messages),
            messages=messages,
        )

    async def commit(self, incoming: IncomingEmail, thread: NormalizedThread) -> None:
        """Persist after the publish succeeded: thread state, id mappings, then the dedup marks."""
        tenant = incoming.tenant
        thread_ttl = self.settings.thread_ttl_days * DAY_S
        await self.store.set(f"thread:{tenant}:{thread.thread_id}", thread.model_dump_json(), ttl_s=thread_ttl)
        for ref in [incoming.message.message_id, *incoming.references]:
            await self.store.set(f"msg:{tenant}:{ref}", thread.thread_id, ttl_s=thread_ttl)
        subject_key = self._subject_key(incoming)
        if subject_key:
            await self.store.hset(subject_key, "thread", thread.thread_id)
            await self.store.expire(subject_key, thread_ttl)
        dedup_ttl = self.settings.dedup_ttl_days * DAY_S
        await self.store.set(f"seen:{tenant}:id:{incoming.message.message_id}", "1", ttl_s=dedup_ttl)
        await self.store.set(f"seen:{tenant}:hash:{incoming.message.content_hash}", "1", ttl_s=dedup_ttl)
