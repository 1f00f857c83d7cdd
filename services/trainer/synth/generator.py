"""Seeded generator of buyer–supplier negotiations with their key facts known by construction.

A thread is played out as a small negotiation: the buyer asks, the supplier offers (prose, a price table in
text or HTML, or tiered prices), and zero to three rounds follow (discount requests granted or refused,
counter-offers accepted, met half-way or rejected, quantity changes, faster delivery, other payment terms or
shipping), then possibly a quote request and the quotation. Every act updates the true terms as SPEC.md §1
defines them (latest terms; a rejected counter-offer is not a term; unit price net of discount; weeks × 7;
years × 12; budget in currency units; null when not stated) while the writer's phrasing is drawn from
:mod:`services.trainer.synth.templates` in Korean, English or both (mixed threads), in one of four writing
styles, with typos, signatures, disclaimers, several mail clients' reply formats with quoted history,
HTML-only messages, forwarded offers, RFC 2047 subjects and Korean mail in EUC-KR.

Thread ``i`` of seed ``s`` depends on ``(s, i)`` only, so any slice regenerates identically and threads can
be produced in parallel or streamed.

This module is the entry point; the work is split by responsibility:

- :mod:`~services.trainer.synth.formatting`: how values are written (money, quantities, dates, ...);
- :mod:`~services.trainer.synth.model`: the thread's data (cast, true terms, drafts, mail decisions);
- :mod:`~services.trainer.synth.builder`: plays the negotiation and makes every random choice;
- :mod:`~services.trainer.synth.acts`: the negotiation rounds, as an explicit table;
- :mod:`~services.trainer.synth.truth`: key facts, summary and tags of a built thread;
- :mod:`~services.trainer.synth.mailtext` and :mod:`~services.trainer.synth.render`: the pure renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.trainer.synth.builder import ThreadBuilder
from services.trainer.synth.formatting import fmt_money, korean_amount
from services.trainer.synth.model import Block, BuiltThread, Draft, Side
from services.trainer.synth.render import render_thread
from services.trainer.synth.truth import key_facts, summary, tags

__all__ = [
    "Block",
    "BuiltThread",
    "Draft",
    "Side",
    "SyntheticThread",
    "ThreadBuilder",
    "build_thread",
    "fmt_money",
    "generate_thread",
    "korean_amount",
    "render_thread",
]


@dataclass
class SyntheticThread:
    """A generated thread: its messages (RFC 5322 bytes) and the expected.json payload."""

    case_id: str
    messages: list[bytes]
    expected: dict[str, Any]


def build_thread(seed: int, index: int) -> BuiltThread:
    """Thread ``index`` of ``seed`` played out and with its mail decided, not yet rendered."""
    builder = ThreadBuilder(seed, index)
    builder.play()
    return builder.finish()


def generate_thread(seed: int, index: int) -> SyntheticThread:
    """Thread ``index`` of ``seed``: its mail and its expected.json payload (deterministic)."""
    thread = build_thread(seed, index)
    facts = key_facts(thread)
    messages = render_thread(thread)
    expected = {
        "id": thread.case_id,
        "expected": facts.model_dump(mode="json"),
        "summary": summary(thread, facts),
        "tags": tags(thread, facts),
        "language": thread.mode,
        "generator": "template",
        "seed": seed,
        "index": index,
        "industry": thread.industry.key,
        "kind": thread.kind,
        "events": thread.events,
        "messages": len(messages),
        "features": {
            "html_only": any(d.html_only for d in thread.drafts),
            "html_alternative": any(d.html_alternative for d in thread.drafts),
            "forwarded": any(d.forwarded for d in thread.drafts),
            "clients": sorted({thread.buyer.client, thread.supplier.client}),
            "styles": {"buyer": thread.buyer.style, "supplier": thread.supplier.style},
            "typos": thread.typos,
        },
    }
    return SyntheticThread(case_id=thread.case_id, messages=messages, expected=expected)
