"""Gemma 2 chat format: user and model turns only (Gemma 2 has no system role).

The text is rendered here, in Python, so that the character spans of the model's
turns are known exactly; the collator turns those spans into the loss mask. The
same format is installed as the tokenizer's Jinja ``chat_template`` (and tested to
agree), so inference servers (TGI) prompt the model the way it was trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

BOS = "<bos>"
EOS = "<eos>"
PAD = "<pad>"
UNK = "<unk>"
START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
SPECIAL_TOKENS = (PAD, EOS, BOS, UNK, START_OF_TURN, END_OF_TURN)

# Gemma 2's own template, verbatim in behaviour: no system role, strict alternation, "assistant" is "model".
GEMMA2_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


class ChatMessage(TypedDict):
    role: Literal["user", "assistant"]
    content: str


class ChatFormatError(ValueError):
    """A conversation Gemma 2 cannot take (system role, roles not alternating, empty)."""


@dataclass(frozen=True)
class RenderedChat:
    """The rendered conversation and the character spans the loss is computed on."""

    text: str
    trained_spans: tuple[tuple[int, int], ...]


def fold_system_prompt(messages: Sequence[dict[str, str]]) -> list[ChatMessage]:
    """Gemma 2 has no system role: a leading system message is prepended to the first user turn."""
    items = [dict(m) for m in messages]
    if items and items[0].get("role") == "system":
        system = items.pop(0)["content"].strip()
        if not items or items[0].get("role") != "user":
            raise ChatFormatError("a system message must be followed by a user message")
        items[0]["content"] = f"{system}\n\n{items[0]['content']}"
    return [_checked(m) for m in items]


def _checked(message: dict[str, str]) -> ChatMessage:
    role = message.get("role")
    content = message.get("content")
    if role not in ("user", "assistant"):
        raise ChatFormatError(f"unsupported role {role!r}: Gemma 2 knows user and assistant (model) only")
    if not isinstance(content, str):
        raise ChatFormatError(f"message content must be text, got {type(content).__name__}")
    return ChatMessage(role="user" if role == "user" else "assistant", content=content)


def render_chat(messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = False) -> RenderedChat:
    """Render a conversation like Gemma 2's template; the model turns (content + <end_of_turn>) are trained."""
    turns = fold_system_prompt(messages)
    if not turns:
        raise ChatFormatError("empty conversation")
    parts = [BOS]
    length = len(BOS)
    spans: list[tuple[int, int]] = []
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise ChatFormatError("conversation roles must alternate user/assistant/user/assistant/...")
        role = "model" if message["role"] == "assistant" else "user"
        header = f"{START_OF_TURN}{role}\n"
        body = f"{message['content'].strip()}{END_OF_TURN}"
        parts += [header, body, "\n"]
        if role == "model":
            start = length + len(header)
            spans.append((start, start + len(body)))
        length += len(header) + len(body) + 1
    if add_generation_prompt:
        parts.append(f"{START_OF_TURN}model\n")
    return RenderedChat(text="".join(parts), trained_spans=tuple(spans))


def generation_prompt(user_content: str) -> str:
    """The prompt for one user turn, ending where the model starts to answer."""
    return render_chat([{"role": "user", "content": user_content}], add_generation_prompt=True).text
