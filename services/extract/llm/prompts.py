"""Prompts in Gemma 2's chat format, rendered from the template files in ``prompts/``.

Gemma 2 knows only ``user`` and ``model`` turns (no system role), so the
instructions open the first user turn. Zero-shot sends context and rules; few-shot
adds examples (thread → answer) chosen from the correction store. A thread that does
not fit the server's ``max_input_tokens`` is trimmed: examples go first, then the
middle of the thread, always keeping the first inquiry and the newest messages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.extract.llm.schema import LlmAnswer, render_answer
from shared.events import NormalizedMessage, NormalizedThread

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
TRUNCATION_FLOOR_CHARS = 400
_CONTROL_TOKENS = re.compile(r"<(/?)(start_of_turn|end_of_turn|bos|eos|pad|unk|mask)>", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """One chat turn; Gemma calls the assistant ``model``."""

    role: Literal["user", "model"]
    content: str


@dataclass
class FewShotExample:
    """A corrected thread and the answer the model should have given."""

    thread: NormalizedThread
    answer: LlmAnswer
    similarity: float = 0.0


@dataclass
class Prompt:
    """A rendered extraction prompt and what trimming did to fit it."""

    turns: list[Turn]
    estimated_tokens: int
    examples_used: int = 0
    omitted_messages: int = 0
    truncated_messages: int = 0

    @property
    def gemma_text(self) -> str:
        return render_gemma(self.turns)

    @property
    def chat_messages(self) -> list[dict[str, str]]:
        return chat_messages(self.turns)


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(PROMPTS_DIR)),
        autoescape=False,  # noqa: S701 - plain text for a language model, not HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


def render_template(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)


def render_gemma(turns: list[Turn]) -> str:
    """The raw prompt for TGI's /generate: turns in Gemma 2 format, ending with an open model turn."""
    return render_template("gemma2_chat.j2", turns=turns)


def chat_messages(turns: list[Turn]) -> list[dict[str, str]]:
    """The same turns for a Messages API (the server applies Gemma's chat template)."""
    return [{"role": "assistant" if t.role == "model" else "user", "content": t.content} for t in turns]


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate for Gemma's tokenizer (no weights here to count exactly).

    Latin text runs about 4 characters per token, Hangul about 1–2; counting 3 and 1
    keeps a trimmed prompt inside the server's limit instead of getting a 422.
    """
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


def neutralise(text: str) -> str:
    """Chat control tokens inside an e-mail would let its author open a turn of their own; defuse them."""
    return _CONTROL_TOKENS.sub(lambda m: f"‹{m.group(1)}{m.group(2)}›", text)


@dataclass
class _MessageView:
    number: int
    role: str
    sender: str
    to: str
    date: str
    subject: str
    text: str
    omitted_before: int = 0
    truncated: bool = False


@dataclass
class _ThreadView:
    total: int
    messages: list[_MessageView] = field(default_factory=list)


def _message_view(number: int, message: NormalizedMessage) -> _MessageView:
    sender = message.sender_name or ""
    if message.sender_email:
        sender = f"{sender} <{message.sender_email}>".strip()
    if message.sender_company:
        sender = f"{sender}, {message.sender_company}" if sender else message.sender_company
    text = message.text
    for forwarded in message.forwarded:
        text += f"\n\n[forwarded from {forwarded.sender_name or forwarded.sender_email or 'unknown'}]\n{forwarded.text}"
    if message.signature:
        text += f"\n-- \n{message.signature}"
    return _MessageView(
        number=number,
        role=message.role,
        sender=neutralise(sender or "unknown"),
        to=neutralise(", ".join(message.to)),
        date=message.date.strftime("%Y-%m-%d %H:%M %z").strip() if message.date else "",
        subject=neutralise(message.subject),
        text=neutralise(text.strip()),
    )


def thread_view(thread: NormalizedThread, keep: list[int] | None = None) -> _ThreadView:
    """The thread as the template sees it; ``keep`` lists the message indexes left after trimming."""
    indexes = keep if keep is not None else list(range(len(thread.messages)))
    view = _ThreadView(total=len(thread.messages))
    previous = -1
    for index in indexes:
        message = _message_view(index + 1, thread.messages[index])
        message.omitted_before = index - previous - 1
        view.messages.append(message)
        previous = index
    return view


def _example_view(example: FewShotExample) -> dict[str, Any]:
    return {"thread": thread_view(example.thread), "answer": render_answer(example.answer)}


def _render_user_turn(target: _ThreadView, examples: list[FewShotExample]) -> str:
    return render_template("extract.j2", target=target, examples=[_example_view(e) for e in examples])


def build_extraction_prompt(
    thread: NormalizedThread, examples: list[FewShotExample] | None = None, *, budget_tokens: int | None = None
) -> Prompt:
    """The extraction prompt, trimmed to ``budget_tokens`` (estimated) when given.

    Trimming order: few-shot examples (least similar first), then messages between the
    first inquiry and the newest ones, then the text of the kept messages themselves.
    """
    chosen = sorted(examples or [], key=lambda e: e.similarity, reverse=True)
    count = len(thread.messages)

    def build(view: _ThreadView, shots: list[FewShotExample]) -> Prompt:
        turns = [Turn("user", _render_user_turn(view, shots).strip())]
        return Prompt(turns=turns, estimated_tokens=estimate_tokens(render_gemma(turns)), examples_used=len(shots))

    prompt = build(thread_view(thread), chosen)
    if budget_tokens is None or prompt.estimated_tokens <= budget_tokens:
        return prompt
    while chosen:
        chosen = chosen[:-1]
        prompt = build(thread_view(thread), chosen)
        if prompt.estimated_tokens <= budget_tokens:
            return prompt

    # Keep the first inquiry, then add messages from the newest backwards while they fit.
    overhead = build(thread_view(thread, [0] if count else []), []).estimated_tokens
    kept_newest: list[int] = []
    used = overhead
    for index in range(count - 1, 0, -1):
        cost = estimate_tokens(render_template("thread.j2", thread=thread_view(thread, [index]))) + 20
        if used + cost > budget_tokens and kept_newest:
            break
        kept_newest.append(index)
        used += cost
    keep = ([0] if count else []) + sorted(kept_newest)
    view = thread_view(thread, keep)
    prompt = build(view, [])
    prompt.omitted_messages = count - len(keep)
    if prompt.estimated_tokens <= budget_tokens:
        return prompt
    return _truncate_texts(view, budget_tokens, build, prompt.omitted_messages)


def _truncate_texts(view: _ThreadView, budget_tokens: int, build: Any, omitted: int) -> Prompt:
    """Cut the longest kept texts (keeping their beginning) until the prompt fits, or cannot shrink further."""
    prompt: Prompt = build(view, [])
    while prompt.estimated_tokens > budget_tokens:
        longest = max(view.messages, key=lambda m: len(m.text))
        if len(longest.text) <= TRUNCATION_FLOOR_CHARS:
            break
        excess_ratio = budget_tokens / prompt.estimated_tokens
        new_length = max(TRUNCATION_FLOOR_CHARS, int(len(longest.text) * min(0.9, excess_ratio)))
        longest.text = longest.text[:new_length].rstrip()
        longest.truncated = True
        prompt = build(view, [])
    prompt.omitted_messages = omitted
    prompt.truncated_messages = sum(m.truncated for m in view.messages)
    return prompt


def repair_turns(prompt: Prompt, bad_output: str, reason: str, *, budget_tokens: int | None = None) -> list[Turn]:
    """The conversation that asks once more: original turn, the rejected answer, what was wrong with it."""
    repair = Turn("user", render_template("repair.j2", reason=reason).strip())
    answer = bad_output.strip()
    if budget_tokens is not None:
        room = budget_tokens - prompt.estimated_tokens - estimate_tokens(repair.content) - 16
        while answer and estimate_tokens(answer) > max(room, 0):
            answer = answer[: max(0, len(answer) * 3 // 4)]
    return [*prompt.turns, Turn("model", neutralise(answer) or "{}"), repair]


def fit_thread(thread: NormalizedThread, fits: Any) -> tuple[NormalizedThread, int]:
    """The thread with middle messages removed until ``fits(thread)``; keeps the first inquiry and the newest.

    For prompts rendered by someone else's function (the trainer's), where only the
    thread can be shortened. Returns the thread and how many messages were left out.
    """
    messages = list(thread.messages)
    omitted = 0
    candidate = thread
    while not fits(candidate) and len(messages) > 2:
        del messages[1]
        omitted += 1
        candidate = thread.model_copy(update={"messages": messages})
    return candidate, omitted
