"""Prompts in Gemma's chat format, rendered from the template files in ``templates/``.

Gemma knows only ``user`` and ``model`` turns (no system role), so each task's
instruction opens its user turn. There are two tasks, as in training: key facts
(``facts``) and summary + tags (``summary``). The zero-shot prompt of a task is one
user turn: instruction, then the thread. A training record is that same turn followed
by the answer, so a tuned adapter is asked byte for byte what it learned
(:func:`training_messages`). Few-shot prompts put examples before it as earlier turns
(the example's user turn, then its answer as a model turn), which is the pattern the
base model then continues.

A thread that does not fit the server's ``max_input_tokens`` is trimmed: examples go
first, then the middle of the thread, always keeping the first inquiry and the newest
messages, then the text of the longest kept messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.events import NormalizedMessage, NormalizedThread
from shared.llm_format.answers import LlmAnswer, facts_answer, summary_answer

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TRUNCATION_FLOOR_CHARS = 400
ATTACHMENT_PROMPT_CHARS = 2500
"""Most of one attachment's text shown to the model: a quote's table and terms fit, a 50-page catalogue does not
take the whole context (the rules engine reads all of it)."""
_CONTROL_TOKENS = re.compile(r"<(/?)(start_of_turn|end_of_turn|bos|eos|pad|unk|mask)>", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|회신|답장|전달)\s*(\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)

Task = Literal["facts", "summary"]
TASKS: tuple[Task, ...] = ("facts", "summary")
_TASK_TEMPLATES: dict[Task, str] = {"facts": "facts.j2", "summary": "summary.j2"}


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

    def answer_text(self, task: Task) -> str | None:
        """The example's answer for ``task``; None when it has none (no reference summary)."""
        if task == "facts":
            return facts_answer(self.answer.facts)
        if self.answer.summary is None:
            return None
        return summary_answer(self.answer.summary, self.answer.tags or [])


@dataclass
class Prompt:
    """A rendered prompt for one task and what trimming did to fit it."""

    task: Task
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
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=False,  # noqa: S701 - plain text for a language model, not HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )


def render_template(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)


def render_gemma(turns: list[Turn]) -> str:
    """The raw prompt (TGI's /generate, llama.cpp's /v1/completions): turns in Gemma format, ending with an
    open model turn."""
    return render_template("gemma_chat.j2", turns=turns)


def chat_messages(turns: list[Turn]) -> list[dict[str, str]]:
    """The same turns for a Messages API (the server applies Gemma's chat template)."""
    return [{"role": "assistant" if t.role == "model" else "user", "content": t.content} for t in turns]


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate for Gemma's tokenizer (the servers do not expose theirs).

    Latin text runs about 4 characters per token, Hangul about 1–2; counting 3 and 1
    keeps a trimmed prompt inside the server's limit instead of getting a 422.
    """
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


def neutralise(text: str) -> str:
    """Chat control tokens inside an e-mail would let its author open a turn of their own; defuse them."""
    return _CONTROL_TOKENS.sub(lambda m: f"‹{m.group(1)}{m.group(2)}›", text)


def _subject_key(subject: str) -> str:
    return " ".join(_REPLY_PREFIX.sub("", subject).casefold().split())


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


def _message_view(number: int, message: NormalizedMessage, *, show_subject: bool) -> _MessageView:
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
    for part in message.attachment_parts:
        if not part.text.strip():
            continue
        shown = part.text.strip()
        cut = len(shown) > ATTACHMENT_PROMPT_CHARS
        shown = shown[:ATTACHMENT_PROMPT_CHARS].rstrip() + ("\n[... attachment truncated ...]" if cut else "")
        text += f"\n\n[attachment {part.filename or 'unnamed'} ({part.kind})]\n{shown}"
    return _MessageView(
        number=number,
        role=message.role,
        sender=neutralise(sender or "unknown"),
        to=neutralise(", ".join(message.to)),
        date=message.date.strftime("%Y-%m-%d %H:%M %z").strip() if message.date else "",
        subject=neutralise(message.subject) if show_subject else "",
        text=neutralise(text.strip()),
    )


def thread_view(thread: NormalizedThread, keep: list[int] | None = None) -> _ThreadView:
    """The thread as the templates see it; ``keep`` lists the message indexes left after trimming.

    A message shows its subject only when it differs from the previous shown one's (``RE:`` aside).
    """
    indexes = keep if keep is not None else list(range(len(thread.messages)))
    view = _ThreadView(total=len(thread.messages))
    previous, previous_subject = -1, None
    for index in indexes:
        message = thread.messages[index]
        subject = _subject_key(message.subject)
        item = _message_view(index + 1, message, show_subject=subject != previous_subject)
        item.omitted_before = index - previous - 1
        view.messages.append(item)
        previous, previous_subject = index, subject
    return view


def render_thread(thread: NormalizedThread) -> str:
    """The whole thread as the model reads it (also the domain-adaptation text of a thread)."""
    return render_template("thread.j2", thread=thread_view(thread)).strip()


def task_turn(task: Task, view: _ThreadView) -> str:
    """The user turn of ``task`` for a thread view: the task's instruction, then the thread."""
    return render_template(_TASK_TEMPLATES[task], thread=view).strip()


def _example_turns(task: Task, examples: list[FewShotExample]) -> list[Turn]:
    turns: list[Turn] = []
    for example in examples:
        answer = example.answer_text(task)
        if answer is not None:
            turns += [Turn("user", task_turn(task, thread_view(example.thread))), Turn("model", answer)]
    return turns


def build_prompt(
    task: Task,
    thread: NormalizedThread,
    examples: list[FewShotExample] | None = None,
    *,
    budget_tokens: int | None = None,
) -> Prompt:
    """The prompt of ``task`` for ``thread``, trimmed to ``budget_tokens`` (estimated) when given.

    Examples without an answer for the task are left out. Trimming order: examples (least similar
    first), then messages between the first inquiry and the newest ones, then the kept texts.
    """
    chosen = [e for e in sorted(examples or [], key=lambda e: e.similarity, reverse=True) if e.answer_text(task)]
    count = len(thread.messages)

    def build(view: _ThreadView, shots: list[FewShotExample]) -> Prompt:
        turns = [*_example_turns(task, shots), Turn("user", task_turn(task, view))]
        return Prompt(task, turns, estimate_tokens(render_gemma(turns)), examples_used=len(shots))

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


def _truncate_texts(
    view: _ThreadView, budget_tokens: int, build: Callable[[_ThreadView, list[FewShotExample]], Prompt], omitted: int
) -> Prompt:
    """Cut the longest kept texts (keeping their beginning) until the prompt fits, or cannot shrink further."""
    prompt = build(view, [])
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


def training_messages(
    task: Task, thread: NormalizedThread, answer: str | None = None, *, budget_tokens: int | None = None
) -> list[dict[str, str]]:
    """The conversation a training record holds: the zero-shot prompt's user turn, then ``answer``.

    Without ``answer`` it is the prompt alone (held-out cases). Same trimming as serving,
    so a thread too long for the sequence limit is cut the way the served model would see it.
    """
    prompt = build_prompt(task, thread, budget_tokens=budget_tokens)
    messages = chat_messages(prompt.turns)
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def repair_turns(prompt: Prompt, bad_output: str, reason: str, *, budget_tokens: int | None = None) -> list[Turn]:
    """The conversation that asks once more: original turns, the rejected answer, what was wrong with it."""
    repair = Turn("user", render_template("repair.j2", reason=reason).strip())
    answer = bad_output.strip()
    if budget_tokens is not None:
        room = budget_tokens - prompt.estimated_tokens - estimate_tokens(repair.content) - 16
        while answer and estimate_tokens(answer) > max(room, 0):
            answer = answer[: max(0, len(answer) * 3 // 4)]
    return [*prompt.turns, Turn("model", neutralise(answer) or "{}"), repair]
