"""Thread assembly, sender roles and de-duplication, with state in the store (Redis).

Threads are found by Message-ID / In-Reply-To / References, then by normalized subject
plus participants, conservatively: a subject match never brings a new party into a thread
(:func:`subject_join_allowed`), and a message joined that way carries
:data:`SUBJECT_JOIN_WARNING`. A new thread's id is derived from its root message id, so the same
conversation gets the same id even if state was lost.

Order of effects for at-least-once without loss: :meth:`ThreadRepository.assemble`
only reads; the caller publishes the thread; only then :meth:`commit` writes
the thread state and marks the message done. A crash in between re-publishes
the same thread version, which downstream treats as a no-op.

Assemble → publish → commit is a read-modify-write of the thread state, so two messages
of one thread handled at the same moment (two partitions, two workers) would each add
themselves to the same old state and the later commit would drop the other message.
:meth:`ThreadRepository.locked` holds a short per-thread lock in the store around that
sequence (``SET NX`` with expiry, kept alive while held, released by its owner only), so
the second message waits and then assembles on top of the first. Before it, the same kind
of claim is taken on the tenant's Message-ID, so two copies of one message that map to
different threads still cannot both pass the duplicate check.

A message is a duplicate only when it is the same message: the same Message-ID in the
tenant (a missing one is synthesised from the hash of the raw bytes), or the same raw bytes
(:attr:`NormalizedMessage.content_hash`). The same text in a different mail is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from services.ingest.normalize import IncomingEmail, initial_role, normalize_subject
from services.ingest.settings import IngestSettings
from shared.consumer import TransientError
from shared.events import Language, NormalizedMessage, NormalizedThread, Role, utc_now
from shared.keys import thread_key
from shared.store import Snapshot, Store

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_S = 86_400
MAX_SUBJECT_CANDIDATES = 20
THREAD_LOCK_TTL_S = 30
"""A held thread lock expires this long after its holder stops renewing it (a crashed worker)."""
THREAD_LOCK_WAIT_S = 45.0
"""How long a message waits for its thread's lock before the guard retries it later (longer than the TTL)."""
_LOCK_RETRY_FIRST_S = 0.005
_LOCK_RETRY_MAX_S = 0.2

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
DuplicateReason = Literal["message_id", "raw_bytes"]
DUPLICATE_REASONS: tuple[DuplicateReason, ...] = ("message_id", "raw_bytes")
"""Why a message is dropped as a duplicate (the ``reason`` label of quoteflow_duplicates_dropped_total)."""
SUBJECT_JOIN_WARNING = "joined its thread by subject and participants, not by reply headers (References/In-Reply-To)"
"""On a message that was put into an existing thread by the subject fallback: a reviewer should know."""


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


LOOK_ALIKE_MAX_EDITS = 2
"""A new domain this close (edits) to a domain of the thread is called a look-alike."""


def _edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """Whether the Levenshtein distance of ``a`` and ``b`` is at most ``limit`` (banded, cheap)."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def look_alike_of(party: str, known: set[str]) -> str | None:
    """The known company domain ``party`` imitates, if any: it contains or extends it
    (``seoul-valve.co.kr.evil.com``), is a few edits from it (``seoul-va1ve.co.kr``), or has the
    same name under another suffix (``seoul-valve.com``). Free-mail parties (addresses) are not compared."""
    if "@" in party:
        return None
    for other in sorted(known):
        if other == party or "@" in other:
            continue
        name, other_name = party.split(".", 1)[0], other.split(".", 1)[0]
        if (
            other in party
            or party in other
            or _edit_distance_at_most(party, other, LOOK_ALIKE_MAX_EDITS)
            or (len(name) >= 4 and name == other_name)
        ):
            return other
    return None


def _parties(message: NormalizedMessage) -> set[str]:
    return {p for p in (party_of(a) for a in [message.sender_email, *message.to, *message.cc]) if p}


def review_reasons(messages: list[NormalizedMessage], settings: IngestSettings) -> list[str]:
    """Why a person should check the price-bearing facts of a thread (messages in conversation order).

    - A sender whose party (company domain, or free-mail address) no earlier message was from
      or addressed to, other than our own domains: someone joined the conversation, perhaps from
      a look-alike domain (then named as such, see :func:`look_alike_of`).
    - Without a sender from ``own_domains``, roles are guessed from the text. That guess is taken
      as sound for the opening inquiry's sender (buyer) and for the party it was addressed to
      who answered first (supplier). A party outside these two that states prices, or any
      price-stating party when the thread opens with an offer rather than a request, had its
      role guessed in a way that decides whose prices the quote shows: that is a reason.
      A plain inquiry and answer thread, or a single inquiry, gives none.

    Extract turns these into warnings and needs_review only when it finds price-bearing facts.
    """
    if not messages:
        return []
    reasons: list[str] = []
    own = {m.sender_email for m in messages if initial_role(m.sender_email, settings) != "unknown"}
    seen = _parties(messages[0])
    for message in messages[1:]:
        party = party_of(message.sender_email)
        if party and party not in seen and message.sender_email not in own:
            imitated = look_alike_of(party, seen)
            if imitated:
                reasons.append(
                    f"{message.sender_email} writes from {party}, which looks like {imitated} of this thread"
                    " (a look-alike domain?)"
                )
            else:
                reasons.append(
                    f"{message.sender_email} joined the thread from {party}, which no earlier message was from or to"
                )
        seen |= _parties(message)
    if own:
        return list(dict.fromkeys(reasons))
    first = messages[0]
    starter = party_of(first.sender_email)
    trusted: set[str] = set()
    if starter and not is_offer(first.text):
        trusted.add(starter)
        addressed = {p for p in (party_of(a) for a in [*first.to, *first.cc]) if p}
        answerer = next(
            (p for p in (party_of(m.sender_email) for m in messages) if p and p != starter),
            None,
        )
        if answerer in addressed:
            trusted.add(answerer)
    for message in messages:
        party = party_of(message.sender_email)
        if party and party not in trusted and _MONEY.search(message.text):
            reasons.append(
                f"the role ({message.role}) of {party}, whose message states prices, was guessed from the text,"
                " not decided by QUOTEFLOW_OWN_DOMAINS (no sender of the thread is from them)"
            )
    return list(dict.fromkeys(reasons))


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


def subject_join_allowed(sender_party: str | None, participants: set[str], thread_addresses: set[str]) -> bool:
    """Whether a message without matching reply headers may join a thread that has its subject.

    Only when it brings in no party the thread has not seen: its sender's party (company
    domain, or the address for free-mail) and every recipient's party already took part in
    the thread (as sender or recipient). Two buyers writing "견적 요청" to one sales@ address
    are different parties, so they never end up in one thread, and our own reply lands only
    in the thread of the buyer it is addressed to.

    And only when it names at least two parties: a message of one party alone (our price list
    sent to ourselves with the buyers in Bcc, an internal note) is a subset of every thread of
    that party, so it would land in whichever buyer's thread ranks first.
    """
    thread_parties = {p for p in (party_of(a) for a in thread_addresses) if p}
    message_parties = {p for p in (party_of(a) for a in participants) if p}
    if sender_party:
        message_parties.add(sender_party)
    return len(message_parties) >= 2 and message_parties <= thread_parties


@dataclass(frozen=True)
class ThreadMatch:
    """The thread a message belongs to and how it was found: by reply headers, by subject, or a new one."""

    thread_id: str
    by: Literal["reference", "subject", "new"]


class ThreadBusy(TransientError):
    """The thread's lock stayed taken for the whole wait; the message is retried later, never dropped."""


class MessageBusy(ThreadBusy):
    """Another worker holds this Message-ID's claim (a copy in flight on another partition); retried later."""


class ThreadLockLost(TransientError):
    """The lock expired before commit (the worker stalled past its TTL); the message is processed again."""


@dataclass(frozen=True)
class ThreadLock:
    """A held per-thread lock: the thread the message belongs to, and our token in the store."""

    tenant: str
    thread_id: str
    token: str
    state: Snapshot = field(default_factory=Snapshot, compare=False)
    """The thread's stored state, read once the lock was held (for is_duplicate, assemble, commit)."""
    message_id: str = ""
    claim_token: str = ""
    """Our token on the message's claim (:func:`claim_key`), taken before the thread lock."""

    @property
    def claim(self) -> str:
        return claim_key(self.tenant, self.message_id)

    @property
    def key(self) -> str:
        return lock_key(self.tenant, self.thread_id)


def lock_key(tenant: str, thread_id: str) -> str:
    return f"lock:thread:{tenant}:{thread_id}"


def claim_key(tenant: str, message_id: str) -> str:
    """The per-tenant claim on one Message-ID, held from the duplicate check until commit."""
    return f"claim:msg:{tenant}:{message_id}"


class ThreadRepository:
    """Reads and writes thread state; knows nothing of Kafka."""

    def __init__(
        self,
        store: Store,
        settings: IngestSettings,
        *,
        lock_ttl_s: int = THREAD_LOCK_TTL_S,
        lock_wait_s: float = THREAD_LOCK_WAIT_S,
    ) -> None:
        self.store = store
        self.settings = settings
        self.lock_ttl_s = lock_ttl_s
        self.lock_wait_s = lock_wait_s
        self._held: dict[str, ThreadLock] = {}
        self._released: set[str] = set()
        """Locks whose commit let them go (with their claim) in its own atomic step: nothing left to release."""

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

    def _ref_keys(self, incoming: IncomingEmail) -> list[str]:
        return [f"msg:{incoming.tenant}:{ref}" for ref in [incoming.message.message_id, *reversed(incoming.references)]]

    def _seen_keys(self, incoming: IncomingEmail) -> list[str]:
        """The dedup marks of a message, in the order of :data:`DUPLICATE_REASONS`."""
        msg = incoming.message
        return [f"seen:{incoming.tenant}:id:{msg.message_id}", f"seen:{incoming.tenant}:raw:{msg.content_hash}"]

    def _state_keys(self, incoming: IncomingEmail, thread_id: str) -> tuple[list[str], list[str]]:
        """The keys and hashes assembling ``incoming`` into ``thread_id`` reads."""
        subject_key = self._subject_key(incoming)
        return (
            [*self._ref_keys(incoming), *self._seen_keys(incoming), thread_key(incoming.tenant, thread_id)],
            [self._roles_key(incoming.tenant, thread_id), *([subject_key] if subject_key else [])],
        )

    def _match_keys(self, incoming: IncomingEmail) -> tuple[list[str], list[str]]:
        """The keys and hashes :meth:`match_thread` reads."""
        subject_key = self._subject_key(incoming)
        return self._ref_keys(incoming), [subject_key] if subject_key else []

    async def read_state(self, incoming: IncomingEmail, thread_id: str) -> Snapshot:
        """Everything assembling ``incoming`` into ``thread_id`` reads, in one round trip (under the lock)."""
        keys, hashes = self._state_keys(incoming, thread_id)
        return await self.store.read(keys=keys, hashes=hashes)

    async def duplicate_reason(self, incoming: IncomingEmail, state: Snapshot | None = None) -> DuplicateReason | None:
        """Why the message was processed before, or None: the same Message-ID in this tenant
        (``message_id``; a synthesised id is the hash of the bytes), or the same raw bytes under
        another id (``raw_bytes``). A different mail with the same text is never a duplicate."""
        keys = self._seen_keys(incoming)
        state = state or await self.store.read(keys=keys)
        for key, reason in zip(keys, DUPLICATE_REASONS, strict=True):
            if state.values.get(key):
                return reason
        return None

    async def is_duplicate(self, incoming: IncomingEmail, state: Snapshot | None = None) -> bool:
        """Processed before: see :meth:`duplicate_reason`."""
        return await self.duplicate_reason(incoming, state) is not None

    async def find_thread_id(self, incoming: IncomingEmail, state: Snapshot | None = None) -> str:
        """Known ids first (own id, then references newest first), then a conservative subject match, else a new id."""
        return (await self.match_thread(incoming, state)).thread_id

    async def match_thread(self, incoming: IncomingEmail, state: Snapshot | None = None) -> ThreadMatch:
        """The thread of ``incoming`` and how it was found (see :func:`subject_join_allowed` for the fallback)."""
        subject_key = self._subject_key(incoming)
        if state is None:
            keys, hashes = self._match_keys(incoming)
            state = await self.store.read(keys=keys, hashes=hashes)
        for key in self._ref_keys(incoming):
            found = state.values.get(key)
            if found:
                return ThreadMatch(found.decode(), "reference")
        if subject_key:
            best: tuple[int, str] | None = None
            participants = incoming.participants
            sender_party = party_of(incoming.message.sender_email)
            for thread_id, raw in state.hashes.get(subject_key, {}).items():
                try:
                    known = {str(a).lower() for a in json.loads(raw)}
                except (ValueError, TypeError):
                    continue
                if not subject_join_allowed(sender_party, participants, known):
                    continue
                overlap = len(known & participants)
                if best is None or (overlap, thread_id) > best:
                    best = (overlap, thread_id)
            if best is not None:
                return ThreadMatch(best[1], "subject")
        root = incoming.references[0] if incoming.references else incoming.message.message_id
        return ThreadMatch(thread_id_for(incoming.tenant, root), "new")

    async def load(self, tenant: str, thread_id: str) -> NormalizedThread | None:
        raw = await self.store.get(thread_key(tenant, thread_id))
        return NormalizedThread.model_validate_json(raw) if raw else None

    def _known_roles(self, state: Snapshot, tenant: str, thread_id: str) -> dict[str, Role]:
        roles: dict[str, Role] = {}
        for party, value in state.hashes.get(self._roles_key(tenant, thread_id), {}).items():
            role = value.decode()
            if role in ("buyer", "supplier"):
                roles[party] = "buyer" if role == "buyer" else "supplier"
        return roles

    async def assemble(
        self, incoming: IncomingEmail, thread_id: str | None = None, state: Snapshot | None = None
    ) -> NormalizedThread:
        """The thread with this message added (not yet saved); ``thread_id`` and ``state`` as read under
        :meth:`locked` (read here when not given)."""
        thread_id = thread_id or await self.find_thread_id(incoming)
        state = state or await self.read_state(incoming, thread_id)
        raw = state.values.get(thread_key(incoming.tenant, thread_id))
        current = NormalizedThread.model_validate_json(raw) if raw else None
        messages = [m for m in (current.messages if current else []) if m.message_id != incoming.message.message_id]
        message = incoming.message
        match = await self.match_thread(incoming, state)
        if match.by == "subject" and match.thread_id == thread_id and SUBJECT_JOIN_WARNING not in message.warnings:
            message = message.model_copy(update={"warnings": [*message.warnings, SUBJECT_JOIN_WARNING]})
        messages.append(message)
        known = self._known_roles(state, incoming.tenant, thread_id)
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
            review_reasons=review_reasons(messages, self.settings),
            started_at=current.started_at if current else utc_now(),
        )

    # ----------------------------------------------------------------- lock

    @contextlib.asynccontextmanager
    async def locked(self, incoming: IncomingEmail) -> AsyncIterator[ThreadLock]:
        """Hold the message's claim and its thread's lock from the duplicate check to commit.

        The claim (``SET NX`` on the tenant's Message-ID, :func:`claim_key`) comes first: two
        copies of one message on two partitions may map to different threads (one copy lost
        its References on the way), but they meet on the claim, so the second waits and then
        sees the first one's dedup mark. The mark itself is written only by :meth:`commit`,
        after the publish; a crash in between leaves no mark, and the claim expires after
        its TTL, so the message is processed again, never lost.

        The thread id is looked up again once the lock is held: a message that was waiting
        while another one of its thread committed may now map to a thread id it could not
        see before, and then that thread is locked instead. Raises :class:`MessageBusy` or
        :class:`ThreadBusy` (transient: the message is retried) if either stays taken for
        ``lock_wait_s``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait_s
        claim = claim_key(incoming.tenant, incoming.message.message_id)
        claim_token = uuid.uuid4().hex
        # The claim and the first thread lookup share a round trip; the lookup is repeated under the lock.
        first_look = await self._take(
            claim, claim_token, deadline, MessageBusy, f"message {incoming.message.message_id}", incoming
        )
        held_keys = [(claim, claim_token)]
        keeper = loop.create_task(self._keep_alive(held_keys))
        try:
            held = replace(
                await self._acquire(incoming, deadline, first_look),
                message_id=incoming.message.message_id,
                claim_token=claim_token,
            )
            held_keys.append((held.key, held.token))
            self._held[held.key] = held
            try:
                yield held
            finally:
                self._held.pop(held.key, None)
                if held.key in self._released:
                    self._released.discard(held.key)
                    held_keys.clear()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if held_keys:
                await self._release(held_keys)

    async def _take(
        self, key: str, token: str, deadline: float, busy: type[ThreadBusy], what: str, incoming: IncomingEmail
    ) -> Snapshot:
        """``SET NX`` ``key`` to ``token``, retrying with jittered back-off until ``deadline``; returns what
        :meth:`match_thread` reads, read in the same round trip as the successful SET."""
        loop = asyncio.get_running_loop()
        pause = _LOCK_RETRY_FIRST_S
        keys, hashes = self._match_keys(incoming)
        while True:
            taken, snapshot = await self.store.take_and_read(
                key, token, ttl_s=self.lock_ttl_s, keys=keys, hashes=hashes
            )
            if taken:
                return snapshot
            if loop.time() >= deadline:
                raise busy(f"{what} stayed locked for {self.lock_wait_s:g} s")
            await asyncio.sleep(pause * (0.5 + random.random()))  # jitter: workers do not retry in step
            pause = min(pause * 2, _LOCK_RETRY_MAX_S)

    async def _acquire(
        self, incoming: IncomingEmail, deadline: float | None = None, first_look: Snapshot | None = None
    ) -> ThreadLock:
        """Lock the message's thread, reading its state in the same round trip (the reads run after the lock
        is taken); if the state says the message belongs to another thread by now, lock that one instead."""
        loop = asyncio.get_running_loop()
        deadline = deadline if deadline is not None else loop.time() + self.lock_wait_s
        pause = _LOCK_RETRY_FIRST_S
        thread_id = await self.find_thread_id(incoming, first_look)
        while True:
            held = ThreadLock(incoming.tenant, thread_id, uuid.uuid4().hex)
            keys, hashes = self._state_keys(incoming, thread_id)
            taken, state = await self.store.take_and_read(
                held.key, held.token, ttl_s=self.lock_ttl_s, keys=keys, hashes=hashes
            )
            if taken:
                current = await self.find_thread_id(incoming, state)
                if current == thread_id:
                    return replace(held, state=state)
                await self._release([(held.key, held.token)])  # the message belongs to another thread by now
                thread_id = current
                continue
            if loop.time() >= deadline:
                raise ThreadBusy(f"thread {thread_id} stayed locked for {self.lock_wait_s:g} s")
            await asyncio.sleep(pause * (0.5 + random.random()))  # jitter: workers do not retry in step
            pause = min(pause * 2, _LOCK_RETRY_MAX_S)
            thread_id = await self.find_thread_id(incoming)

    async def _keep_alive(self, held: list[tuple[str, str]]) -> None:
        """Renew the held claim and lock (``held`` grows once the lock is taken), so a slow publish does not
        let a second worker in; one that is no longer ours is left alone."""
        while True:
            await asyncio.sleep(max(self.lock_ttl_s / 3, 0.05))
            for key, token in list(held):
                try:
                    if await self.store.get(key) == token.encode():
                        await self.store.expire(key, self.lock_ttl_s)
                except Exception:  # the store is down: commit will fail (and the message be retried) anyway
                    logger.warning("could not renew the lock %s", key, exc_info=True)

    async def _release(self, held: list[tuple[str, str]]) -> None:
        """Delete locks and claims only where they are still ours (after an expiry one may belong to another
        worker), in one round trip."""
        try:
            await self.store.delete_all_if_equal(list(held))
        except Exception:  # an unreleased lock expires on its own after its TTL
            logger.warning("could not release the locks %s", [key for key, _ in held], exc_info=True)

    def _still_held(self, tenant: str, thread_id: str) -> list[tuple[str, str]]:
        """The lock and claim a commit must still own (checked atomically with its writes)."""
        held = self._held.get(lock_key(tenant, thread_id))
        if held is None:
            return []
        return [(held.key, held.token), *([(held.claim, held.claim_token)] if held.claim_token else [])]

    # ----------------------------------------------------------------- writes

    async def commit(self, incoming: IncomingEmail, thread: NormalizedThread, state: Snapshot | None = None) -> None:
        """Persist after the publish succeeded: thread state, id mappings, roles, then the dedup marks.

        Under :meth:`locked`, the writes happen only while the lock and the claim are still ours, checked in
        the same atomic step: if either was lost, nothing is written and :class:`ThreadLockLost` makes the
        message run again on top of the newer state.
        """
        tenant = incoming.tenant
        thread_ttl = self.settings.thread_ttl_days * DAY_S
        subject_key = self._subject_key(incoming)
        if not subject_key:
            existing: dict[str, bytes] = {}
        elif state is not None and subject_key in state.hashes:
            existing = state.hashes[subject_key]
        else:
            existing = await self.store.hgetall(subject_key)
        # One round trip, all or nothing: the dedup marks never land without the thread state.
        writes = self.store.batch()
        writes.set(thread_key(tenant, thread.thread_id), thread.model_dump_json(), ttl_s=thread_ttl)
        for ref in [incoming.message.message_id, *incoming.references]:
            writes.set(f"msg:{tenant}:{ref}", thread.thread_id, ttl_s=thread_ttl)
        roles_key = self._roles_key(tenant, thread.thread_id)
        for message in thread.messages:
            party = party_of(message.sender_email)
            if party and message.role != "unknown":
                writes.hset(roles_key, party, message.role)
        writes.expire(roles_key, thread_ttl)
        if subject_key:
            participants = sorted({a for m in thread.messages for a in [m.sender_email, *m.to, *m.cc] if a})[:100]
            if thread.thread_id in existing or len(existing) < MAX_SUBJECT_CANDIDATES:
                writes.hset(subject_key, thread.thread_id, json.dumps(participants))
            writes.expire(subject_key, thread_ttl)
        dedup_ttl = self.settings.dedup_ttl_days * DAY_S
        for key in self._seen_keys(incoming):
            writes.set(key, "1", ttl_s=dedup_ttl)
        guards = self._still_held(tenant, thread.thread_id)
        # The lock and the claim go with the writes they guard: the message is done once they land.
        lost = await writes.execute(only_while=guards, release=bool(guards))
        if lost is None and guards:
            self._released.add(guards[0][0])
        if lost is not None and lost.startswith("lock:"):
            raise ThreadLockLost(f"the lock of thread {thread.thread_id} expired before commit")
        if lost is not None:
            raise ThreadLockLost(f"the claim on message {incoming.message.message_id} expired before commit")
