"""Task prompts the adapter is trained on: thread rendering, key-fact extraction, summary and tags.

The LLM engine asks a served adapter with these same constants and functions
(``services.extract.llm.engine``), so the model sees at inference what it saw in training.
Synthetic training sets are built with :func:`render_thread` as their thread renderer for the same reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from services.trainer.training.chat import ChatMessage
from shared.events import KeyFacts, NormalizedThread

KEY_FACT_FIELDS = tuple(KeyFacts.model_fields)

EXTRACTION_INSTRUCTION = (
    "Extract the key facts of this buyer–supplier e-mail thread as one JSON object with exactly these fields: "
    + ", ".join(KEY_FACT_FIELDS)
    + ". Describe the latest terms on the table at the end of the thread. "
    "Use null for anything the thread does not state; never guess. Answer with the JSON only."
)

SUMMARY_TAGS_INSTRUCTION = (
    "Summarize this buyer–supplier e-mail thread message by message (sender and what they said), "
    "then the final terms, and give short tags. Answer with JSON: "
    '{"summary": "...", "tags": ["...", "..."]}.'
)


def render_thread(thread: NormalizedThread) -> str:
    """The thread as plain text: subject, then each message with sender, role and new text."""
    lines = [f"Subject: {thread.subject}"]
    for number, message in enumerate(thread.messages, start=1):
        sender = message.sender_name or ""
        if message.sender_email:
            sender = f"{sender} <{message.sender_email}>".strip()
        if message.sender_company:
            sender = f"{sender}, {message.sender_company}"
        date = message.date.date().isoformat() if message.date else "unknown date"
        lines.append(f"\n[{number}] {message.role} · {sender or 'unknown sender'} · {date}")
        if message.to:
            lines.append("To: " + ", ".join(message.to))
        lines.append(message.text.strip())
        for forwarded in message.forwarded:
            lines.append(f"(forwarded from {forwarded.sender_name or forwarded.sender_email or 'unknown'})")
            lines.append(forwarded.text.strip())
    return "\n".join(lines)


def facts_json(facts: KeyFacts) -> str:
    """The assistant's answer for extraction: compact JSON in SPEC field order."""
    return json.dumps(facts.model_dump(mode="json"), ensure_ascii=False)


def extraction_messages(thread: NormalizedThread, facts: KeyFacts | None = None) -> list[ChatMessage]:
    """The extraction conversation; without facts it is the prompt alone."""
    messages = [ChatMessage(role="user", content=f"{EXTRACTION_INSTRUCTION}\n\n{render_thread(thread)}")]
    if facts is not None:
        messages.append(ChatMessage(role="assistant", content=facts_json(facts)))
    return messages


def summary_tags_messages(thread: NormalizedThread, summary: str, tags: list[str]) -> list[ChatMessage]:
    """The summary + tags conversation for one thread."""
    answer = json.dumps({"summary": summary, "tags": tags}, ensure_ascii=False)
    return [
        ChatMessage(role="user", content=f"{SUMMARY_TAGS_INSTRUCTION}\n\n{render_thread(thread)}"),
        ChatMessage(role="assistant", content=answer),
    ]


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_facts(answer: str) -> KeyFacts | None:
    """Key facts from a model's answer (bare or under "facts", maybe fenced or with chatter); None when unusable."""
    match = _JSON_OBJECT.search(answer)
    if not match:
        return None
    try:
        data: Any = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("facts"), dict):
        data = data["facts"]  # the LLM engine's {"facts", "summary", "tags"} answer
    if not isinstance(data, dict):
        return None
    known = {key: value for key, value in data.items() if key in KEY_FACT_FIELDS}
    if not known:
        return None
    try:
        return KeyFacts.model_validate(known)
    except ValidationError:
        return None
