"""Agent mode of ``quoteflow synth``: a buyer agent and a supplier agent negotiate through the configured LLM.

As in the talk (two PyAutoGen agents), each agent is a prompt with a persona and a hidden brief: the buyer
knows what it needs, its target price and whether it wants a formal quotation; the supplier knows its list
prices, its floor (the lowest price it may accept), its MOQ, lead time, payment terms, Incoterm and warranty.
They take turns writing e-mails (free text, in the persona's language) and each answer also carries a small
JSON state: the supplier states the terms it currently offers.

Ground truth comes from the supplier's last stated offer, bounded by its brief, and is then **checked
against the text**: every value taken as truth must be written in the supplier's e-mails (a price below
the floor, or a price the e-mails never state, rejects the thread). Accepted threads are rendered with the
same mail machinery as the template generator (clients, quotes, signatures) into the SPEC.md §2 layout.

Runs only with QUOTEFLOW_LLM_URL; tests use the TGI-protocol test server.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer.chat import JsonChat, configured_llm
from services.trainer.synth.builder import ThreadBuilder
from services.trainer.synth.catalog import CURRENCIES
from services.trainer.synth.generator import SyntheticThread
from services.trainer.synth.model import Block, Draft, Side
from services.trainer.synth.render import render_thread
from services.trainer.synth.truth import summary, tags
from services.trainer.synth.writer import write_thread

MAX_TURNS = 8


class AgentUnavailable(Exception):
    """Agent mode cannot run (no LLM endpoint configured)."""


@dataclass
class AgentSynthResult:
    threads: int
    rejected: int
    reasons: list[str]


BUYER_SCHEMA = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "asked_for_quote": {"type": "boolean"},
        "done": {"type": "boolean"},
    },
    "required": ["email", "asked_for_quote", "done"],
}
SUPPLIER_SCHEMA = {
    "type": "object",
    "properties": {
        "email": {"type": "string"},
        "offer": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "product": {"type": "string"},
                            "quantity": {"type": ["number", "null"]},
                            "unit_price": {"type": ["number", "null"]},
                            "discount_percent": {"type": ["number", "null"]},
                        },
                        "required": ["product", "unit_price"],
                    },
                },
                "moq": {"type": ["number", "null"]},
                "lead_time_days": {"type": ["integer", "null"]},
                "payment_terms": {"type": ["string", "null"]},
                "incoterm": {"type": ["string", "null"]},
                "warranty_months": {"type": ["integer", "null"]},
            },
        },
        "done": {"type": "boolean"},
    },
    "required": ["email", "offer", "done"],
}


QUOTE_WISH = {
    True: "ask for a formal quotation once the terms are acceptable",
    False: "do not ask for a quotation document",
}


def _language_name(lang: str) -> str:
    return "Korean" if lang == "ko" else "English"


def buyer_prompt(builder: ThreadBuilder, transcript: str, target: dict[str, float], wants_quote: bool) -> str:
    person = builder.buyer
    needs = "; ".join(f"{i.product}: {i.quantity:,} {i.unit}" for i in builder.terms.items)
    targets = "; ".join(f"{p}: at most {v:g} {builder.terms.currency} per unit" for p, v in target.items())
    return (
        f"You are the buyer {person.name}, {person.title} at {person.company}. Write in {_language_name(person.lang)}, "
        f"in a {person.style} style, to the supplier {builder.supplier.name} of {builder.supplier.company}.\n"
        f"Hidden brief (never reveal it): you need {needs}. Your target prices: {targets}. Negotiate politely; "
        f"{QUOTE_WISH[wants_quote]}.\n"
        "Do not sign the e-mail (your mail client adds the signature).\n\n"
        f"Conversation so far:\n{transcript or '(none: write the first inquiry)'}\n\n"
        'Write your next e-mail. Answer as JSON {"email": "...", "asked_for_quote": true|false, "done": true|false} '
        "(done: the negotiation is over for you)."
    )


def supplier_prompt(builder: ThreadBuilder, transcript: str, brief: dict[str, Any]) -> str:
    person = builder.supplier
    prices = "; ".join(
        f"{p}: list {v['list']:g}, floor {v['floor']:g} {builder.terms.currency} per unit"
        for p, v in brief["items"].items()
    )
    return (
        f"You are the supplier {person.name}, {person.title} at {person.company}. "
        f"Write in {_language_name(person.lang)}, "
        f"in a {person.style} style, to the buyer {builder.buyer.name} of {builder.buyer.company}.\n"
        f"Hidden brief (never reveal the floor): prices {prices}; never go below the floor; discounts at most "
        f"{brief['max_discount']:g}%; MOQ {brief['moq']:g}; lead time {brief['lead_time_days']} days after order; "
        f"payment terms '{brief['payment_terms']}'; Incoterm {brief['incoterm']}; "
        f"warranty {brief['warranty_months']} months.\n"
        "State every price you offer with its number and currency in the e-mail. Do not sign the e-mail.\n\n"
        f"Conversation so far:\n{transcript}\n\n"
        'Write your next e-mail. Answer as JSON {"email": "...", "offer": {"items": [{"product", "quantity", '
        '"unit_price", "discount_percent"}], "moq", "lead_time_days", "payment_terms", "incoterm", '
        '"warranty_months"}, "done": true|false} where offer is what your e-mails have offered so far (null for '
        "terms you have not stated)."
    )


def number_variants(value: float, currency: str) -> set[str]:
    """How a number may be written: 9500, 9,500, 9500.00, 21.8, 21.80."""
    decimals = CURRENCIES.get(currency, (1.0, 2))[1]
    variants = {f"{value:g}", f"{value:,.{decimals}f}", f"{value:.{decimals}f}", f"{value:,.2f}", f"{value:.2f}"}
    if float(value).is_integer():
        variants |= {f"{int(value)}", f"{int(value):,}"}
    return variants


def stated(value: float, texts: str, currency: str) -> bool:
    flat = texts.replace("\u00a0", " ")
    return any(re.search(rf"(?<![\d.,]){re.escape(v)}(?![\d]|[.,]\d)", flat) for v in number_variants(value, currency))


async def converse(chat: JsonChat, builder: ThreadBuilder) -> tuple[list[tuple[Side, str]], dict[str, Any], bool]:
    """Run the dialogue; returns the e-mails, the supplier's last offer and whether a quote was asked for."""
    rng = builder.rng
    brief: dict[str, Any] = {
        "items": {
            i.product: {"list": i.list_price, "floor": round(i.list_price * 0.88, 2)} for i in builder.terms.items
        },
        "max_discount": float(rng.choice((3, 5, 8, 10))),
        "moq": float(max(1, builder.terms.items[0].quantity // 4)),
        "lead_time_days": rng.choice((7, 14, 21, 28, 30, 45)),
        "payment_terms": rng.choice(("30% T/T deposit, 70% before shipment", "L/C at sight", "net 30 days")),
        "incoterm": rng.choice(("FOB", "CIF", "EXW", "DAP")),
        "warranty_months": rng.choice((12, 24)),
    }
    target = {i.product: round(i.list_price * rng.uniform(0.8, 0.95), 2) for i in builder.terms.items}
    wants_quote = rng.random() < 0.7
    emails: list[tuple[Side, str]] = []
    offer: dict[str, Any] = {}
    asked = False
    side: Side = "buyer"
    for _ in range(MAX_TURNS):
        transcript = "\n\n".join(f"[{s}] {text}" for s, text in emails)
        if side == "buyer":
            answer = await chat.ask(
                [{"role": "user", "content": buyer_prompt(builder, transcript, target, wants_quote)}], BUYER_SCHEMA, 0.7
            )
            asked |= bool(answer.get("asked_for_quote"))
        else:
            answer = await chat.ask(
                [{"role": "user", "content": supplier_prompt(builder, transcript, brief)}], SUPPLIER_SCHEMA, 0.7
            )
            offer = answer.get("offer") or offer
        text = str(answer.get("email", "")).strip()
        if not text:
            break
        emails.append((side, text))
        if answer.get("done") and len(emails) >= 2:
            break
        side = "supplier" if side == "buyer" else "buyer"
    return emails, {"offer": offer, "brief": brief}, asked


def truth_from_offer(
    builder: ThreadBuilder, emails: list[tuple[Side, str]], state: dict[str, Any], asked: bool
) -> tuple[dict[str, Any] | None, str]:
    """Key facts from the supplier's last offer, each value checked against the supplier's text."""
    supplier_text = "\n".join(text for side, text in emails if side == "supplier")
    all_text = "\n".join(text for _, text in emails)
    offer, brief = state.get("offer") or {}, state["brief"]
    currency = builder.terms.currency
    items = []
    for item in builder.terms.items:
        offered = next(
            (o for o in offer.get("items", []) if str(o.get("product", "")).strip().lower() == item.product.lower()),
            None,
        )
        price = offered.get("unit_price") if offered else None
        if price is not None:
            if price < brief["items"][item.product]["floor"] - 1e-9:
                return None, f"{item.product}: price {price} below the supplier's floor"
            if not stated(float(price), supplier_text, currency):
                return None, f"{item.product}: price {price} is not written in the supplier's e-mails"
        discount = offered.get("discount_percent") if offered else None
        if discount is not None and not stated(float(discount), supplier_text, currency):
            discount = None
        quantity = offered.get("quantity") if offered and offered.get("quantity") else item.quantity
        if not stated(float(quantity), all_text, currency):
            quantity = None
        items.append(
            {
                "product": item.product if item.product in all_text else None,
                "quantity": quantity,
                "unit": item.unit if quantity and item.unit in all_text else None,
                "unit_price": price,
                "currency": currency if price is not None else None,
                "discount_percent": discount,
            }
        )

    def checked_number(key: str) -> float | None:
        value = offer.get(key)
        return value if value is not None and stated(float(value), supplier_text, currency) else None

    lead = checked_number("lead_time_days")
    payment = offer.get("payment_terms")
    incoterm = offer.get("incoterm")
    facts = {
        "buyer": {
            "name": builder.buyer.name,
            "company": builder.buyer.company if builder.buyer.company in all_text else None,
            "email": builder.buyer.email,
        },
        "supplier": {
            "name": builder.supplier.name,
            "company": builder.supplier.company if builder.supplier.company in all_text else None,
            "email": builder.supplier.email,
        },
        "currency": currency if any(i["unit_price"] is not None for i in items) else None,
        "items": items,
        "moq": checked_number("moq"),
        "delivery_lead_time_days": int(lead) if lead is not None else None,
        "delivery_date": None,
        "shipping_method": None,
        "incoterm": incoterm
        if incoterm in ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP")
        and incoterm in supplier_text
        else None,
        "payment_terms": payment if payment and payment in supplier_text else None,
        "warranty_months": checked_number("warranty_months"),
        "budget": None,
        "quote_requested": bool(asked),
    }
    return facts, ""


async def agent_thread(chat: JsonChat, seed: int, index: int) -> tuple[SyntheticThread | None, str]:
    builder = ThreadBuilder(seed, index)
    builder.kind = "agent"
    emails, state, asked = await converse(chat, builder)
    if len(emails) < 2:
        return None, "the agents wrote fewer than two e-mails"
    facts, reason = truth_from_offer(builder, emails, state, asked)
    if facts is None:
        return None, reason
    for number, (side, text) in enumerate(emails):
        title = "inquiry" if number == 0 else ("negotiation" if side == "buyer" else "response")
        first_line = re.split(r"(?<=[.!?。])\s|\n", text.strip(), maxsplit=1)[0][:160]
        builder.drafts.append(Draft(side=side, title_key=title, blocks=[Block(text)], gists=[first_line]))
    thread = builder.finish()
    messages = render_thread(thread)
    from shared.events import KeyFacts

    key_facts = KeyFacts.model_validate(facts)
    expected = {
        "id": f"agent-{seed}-{index:05d}",
        "expected": key_facts.model_dump(mode="json"),
        "summary": summary(thread, key_facts),
        "tags": tags(thread, key_facts),
        "language": builder.mode,
        "generator": "agent",
        "seed": seed,
        "index": index,
        "industry": builder.industry.key,
        "kind": "agent",
        "events": [],
        "messages": len(messages),
        "brief": json.loads(json.dumps(state["brief"])),
    }
    return SyntheticThread(case_id=expected["id"], messages=messages, expected=expected), ""


def run_agent_synth(n: int, seed: int, out_dir: Path, chat: JsonChat | None = None) -> AgentSynthResult:
    """Write up to n agent conversations that pass the truth check; the rest are counted as rejected."""
    chat = chat or configured_llm(max_tokens=800)
    if chat is None:
        raise AgentUnavailable("agent mode needs an LLM endpoint: set QUOTEFLOW_LLM_URL (e.g. your TGI server)")
    out_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run_agent_synth_async(n, seed, out_dir, chat))


async def run_agent_synth_async(n: int, seed: int, out_dir: Path, chat: JsonChat) -> AgentSynthResult:
    """Agent threads 0..n-1 of seed into out_dir (which must exist)."""
    written, reasons = 0, []
    try:
        for index in range(n):
            try:
                thread, reason = await agent_thread(chat, seed, index)
            except Exception as exc:  # one failed dialogue is a rejected thread, not a failed run
                thread, reason = None, f"{type(exc).__name__}: {exc}"
            if thread is None:
                reasons.append(f"{index}: {reason}")
                continue
            write_thread(thread, out_dir)
            written += 1
    finally:
        await chat.close()
    return AgentSynthResult(threads=written, rejected=len(reasons), reasons=reasons)
