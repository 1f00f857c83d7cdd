"""Thread assembly, sender roles and de-duplication, with state in the store (Redis).

Threads are found by Message-ID / In-Reply-To / References, then by normalized subject
plus participants. A new thread's id is derived from its root message id, so the same
conversation gets the same id even if state was lost.

Order of effects for at-least-once without loss: :meth:`ThreadRepository.assemble`
only reads; the caller publishes the thread; only then :meth:`commit` writes
the thread state and marks the message done. A crash in between re-publishes
the same thread version, which downstream treats as a no-op.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from services.ingest.normalize import IncomingEmail, initial_role, normalize_subject
from services.ingest.settings import IngestSettings
from shared.events import Language, NormalizedMessage, NormalizedThread, Role
from shared.store import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_S = 86_400
MAX_SUBJECT_CANDIDATES = 20

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "kakao.com",
        "nate.com",
        "yahoo.com",
        "yahoo.co.kr",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "163.com",
    }
)
_MONEY = re.compile(
    r"(?:[$€£¥₩]\s*\d|\d[\d,.]*\s*(?:원|만\s*원|억\s*원|달러|엔|usd|krw|eur|jpy|cny|dollars?)\b|\b(?:usd|krw|eur|jpy|cny)\s*\d"
    r"|\d[\d,.]*\s*원)",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"\?|견적\s*(?:을|서를|서)?\s*(?:요청|부탁|문의|보내|주시|받고|주실)|문의|알려\s*주|보내\s*주|가능할까|가능한지|궁금"
    r"|\b(?:quote|quotation|inquiry|enquiry|rfq|could you|can you|would you"
    r"|please (?:send|provide|quote|advise|let))\b",
    re.IGNORECASE,
)
_OPPOSITE: dict[Role, Role] = {"buyer": "supplier", "supplier": "buyer", "unknown": "unknown"}


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


def party_of(address: str | None) -> str | None:
    """The side an address speaks for: its company domain, or the address itself for free-mail."""
    if not address:
        return None
    domain = address.rpartition("@")[2].lower()
    if not domain or domain in FREE_MAIL_DOMAINS:
        return address.lower()
    return domain


def is_offer(text: str) -> bool:
    """States prices without asking anything: how a supplier's quote reads."""
    return bool(_MONEY.search(text)) and not _REQUEST.search(text)


def infer_party_roles(
    messages: list[NormalizedMessage], settings: IngestSettings, known: Mapping[str, Role] | None = None
) -> dict[str, Role]:
    """Role of each party (company domain or free-mail address) in a thread in conversation order.

    Our own domains decide first (``own_role`` for us, the other side for everyone else).
    Otherwise the first sender of an inquiry is the buyer and the first party to answer the
    supplier; a first message that only states prices makes its sender the supplier. Third
    parties that state prices join the supplier side. Roles stored before (``known``) only
    fill in parties the messages at hand leave undecided (e.g. after the cap dropped the start),
    so a late-arriving first message can still correct an early guess.
    """
    roles: dict[str, Role] = {}
    parties: list[str] = []
    first_message: dict[str, NormalizedMessage] = {}
    for message in messages:
        party = party_of(message.sender_email)
        if party and party not in first_message:
            parties.append(party)
            first_message[party] = message
    if not parties:
        return dict(known or {})
    own_role = settings.own_role
    own = {p for p in parties if initial_role(first_message[p].sender_email, settings) != "unknown"}
    if own:
        return {party: own_role if party in own else _OPPOSITE[own_role] for party in parties}
    starter = parties[0]
    if known and known.get(starter, "unknown") != "unknown":
        roles[starter] = known[starter]
    else:
        roles[starter] = "supplier" if is_offer(first_message[starter].text) else "buyer"
    decided = {roles[starter]}
    for party in parties[1:]:
        missing = {"buyer", "supplier"} - decided
        if missing:
            role: Role = "supplier" if "supplier" in missing else "buyer"
        elif any(_MONEY.search(m.text) for m in messages if party_of(m.sender_email) == party):
            role = "supplier"
        else:
            role = (known or {}).get(party, "unknown")
        roles[party] = role
        decided.add(role)
    return roles


def _with_role(message: NormalizedMessage, roles: Mapping[str, Role]) -> NormalizedMessage:
    role = roles.get(party_of(message.sender_email) or "", "unknown")
    forwarded = [_with_role(f, roles) for f in message.forwarded]
    if role == message.role and all(a is b for a, b in zip(forwarded, message.forwarded, strict=True)):
        return message
    return message.model_copy(update={"role": role, "forwarded": forwarded})


def assign_roles(
    messages: list[NormalizedMessage],
    settings: IngestSettings | None = None,
    known: Mapping[str, Role] | None = None,
) -> list[NormalizedMessage]:
    """Each message (and forwarded message) tagged buyer, supplier or unknown (see :func:`infer_party_roles`)."""
    roles = infer_party_roles(messages, settings or IngestSettings(), known)
    return [_with_role(m, roles) for m in messages]


class ThreadRepository:
    """Reads and writes thread state; knows nothing of Kafka."""

    def __init__(self, store: Store, settings: IngestSettings) -> None:
        self.store = store
        self.settings = settings

    # ----------------------------------------------------------------- keys

    def _subject_key(self, incoming: IncomingEmail) -> str | None:
        subject = normalize_subject(incoming.raw_subject).lower()
        if not subject:
            return None
        return f"subject:{incoming.tenant}:{hashlib.sha256(subject.encode()).hexdigest()[:16]}"

    @staticmethod
    def _roles_key(tenant: str, thread_id: str) -> str:
        return f"roles:{tenant}:{thread_id}"

    # ----------------------------------------------------------------- reads

    async def is_duplicate(self, incoming: IncomingEmail) -> bool:
        """Seen before, by Message-ID or by content hash (the same mail re-sent with a new id)."""
        msg = incoming.message
        return await self.store.exists(f"seen:{incoming.tenant}:id:{msg.message_id}") or await self.store.exists(
            f"seen:{incoming.tenant}:hash:{msg.content_hash}"
        )

    async def find_thread_id(self, incoming: IncomingEmail) -> str:
        """Known ids first (own id, then references newest first), then subject + participants, else a new id."""
        tenant = incoming.tenant
        for ref in [incoming.message.message_id, *reversed(incoming.references)]:
            found = await self.store.get(f"msg:{tenant}:{ref}")
            if found:
                return found.decode()
        subject_key = self._subject_key(incoming)
        if subject_key:
            candidates = await self.store.hgetall(subject_key)
            best: tuple[int, str] | None = None
            participants = incoming.participants
            for thread_id, raw in candidates.items():
                try:
                    known = set(json.loads(raw))
                except (ValueError, TypeError):
                    continue
                overlap = len(known & participants)
                if overlap and (best is None or overlap > best[0]):
                    best = (overlap, thread_id)
            if best is not None:
                return best[1]
        root = incoming.references[0] if incoming.references else incoming.message.message_id
        return thread_id_for(tenant, root)

    async def load(self, tenant: str, thread_id: str) -> NormalizedThread | None:
        raw = await self.store.get(f"thread:{tenant}:{thread_id}")
        return NormalizedThread.model_validate_json(raw) if raw else None

    async def _known_roles(self, tenant: str, thread_id: str) -> dict[str, Role]:
        stored = await self.store.hgetall(self._roles_key(tenant, thread_id))
        roles: dict[str, Role] = {}
        for party, value in stored.items():
            role = value.decode()
            if role in ("buyer", "supplier"):
                roles[party] = "buyer" if role == "buyer" else "supplier"
        return roles

    async def assemble(self, incoming: IncomingEmail) -> NormalizedThread:
        """The thread with this message added (not yet saved)."""
        thread_id = await self.find_thread_id(incoming)
        current = await self.load(incoming.tenant, thread_id)
        messages = [m for m in (current.messages if current else []) if m.message_id != incoming.message.message_id]
        messages.append(incoming.message)
        known = await self._known_roles(incoming.tenant, thread_id)
        messages = assign_roles(conversation_order(messages), self.settings, known)
        messages = messages[-self.settings.max_messages_per_thread :]
        first_subject = next((m.subject for m in messages if normalize_subject(m.subject)), incoming.raw_subject)
        return NormalizedThread(
            thread_id=thread_id,
            tenant=incoming.tenant,
            version=(current.version + 1) if current else 1,
            subject=normalize_subject(first_subject),
            language=thread_language(messages),
            messages=messages,
        )

    # ----------------------------------------------------------------- writes

    async def commit(self, incoming: IncomingEmail, thread: NormalizedThread) -> None:
        """Persist after the publish succeeded: thread state, id mappings, roles, then the dedup marks."""
        tenant = incoming.tenant
        thread_ttl = self.settings.thread_ttl_days * DAY_S
        await self.store.set(f"thread:{tenant}:{thread.thread_id}", thread.model_dump_json(), ttl_s=thread_ttl)
        for ref in [incoming.message.message_id, *incoming.references]:
            await self.store.set(f"msg:{tenant}:{ref}", thread.thread_id, ttl_s=thread_ttl)
        roles_key = self._roles_key(tenant, thread.thread_id)
        for message in thread.messages:
            party = party_of(message.sender_email)
            if party and message.role != "unknown":
                await self.store.hset(roles_key, party, message.role)
        await self.store.expire(roles_key, thread_ttl)
        subject_key = self._subject_key(incoming)
        if subject_key:
            participants = sorted({a for m in thread.messages for a in [m.sender_email, *m.to, *m.cc] if a})[:100]
            existing = await self.store.hgetall(subject_key)
            if thread.thread_id in existing or len(existing) < MAX_SUBJECT_CANDIDATES:
                await self.store.hset(subject_key, thread.thread_id, json.dumps(participants))
            await self.store.expire(subject_key, thread_ttl)
        dedup_ttl = self.settings.dedup_ttl_days * DAY_S
        await self.store.set(f"seen:{tenant}:id:{incoming.message.message_id}", "1", ttl_s=dedup_ttl)
        await self.store.set(f"seen:{tenant}:hash:{incoming.message.content_hash}", "1", ttl_s=dedup_ttl)
