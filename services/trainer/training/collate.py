"""Tokenised examples and the padding collator; the loss is computed on the model's turns only.

Chat examples are rendered with the Gemma 2 format, tokenised once with character offsets, and every
token outside a model turn gets the label -100 (ignored by the loss): the prompt and the thread are
context, never targets. Text examples (continual pre-training) are packed into full-length blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.trainer.training.chat import BOS, EOS, render_chat
from services.trainer.training.data import Example

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def encode_chat(
    tokenizer: PreTrainedTokenizerBase, example: Example, max_length: int, *, skip_overlong: bool = False
) -> EncodedExample | None:
    """Token ids and labels of one conversation; None when truncation leaves no model token to learn,
    or (``skip_overlong``) when the conversation does not fit in ``max_length`` at all."""
    if example.messages is None:
        raise ValueError("encode_chat needs a chat example")
    rendered = render_chat(list(example.messages))  # type: ignore[arg-type]
    encoding = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids: list[int] = list(encoding["input_ids"])
    labels: list[int] = []
    for token_id, (start, end) in zip(input_ids, encoding["offset_mapping"], strict=True):
        inside = any(start >= span_start and end <= span_end for span_start, span_end in rendered.trained_spans)
        labels.append(token_id if inside and end > start else IGNORE_INDEX)
    if skip_overlong and len(input_ids) > max_length:
        return None
    encoded = EncodedExample(input_ids[:max_length], labels[:max_length])
    return encoded if encoded.trained_tokens else None


def pack_texts(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int
) -> list[EncodedExample]:
    """Continual pre-training blocks: <bos>text<eos> documents concatenated and cut to max_length."""
    stream: list[int] = []
    for example in examples:
        if example.text is None:
            raise ValueError("pack_texts needs text examples")
        stream.extend(tokenizer(f"{BOS}{example.text}{EOS}", add_special_tokens=False)["input_ids"])
    blocks = [stream[i : i + max_length] for i in range(0, len(stream), max_length)]
    return [EncodedExample(block, list(block)) for block in blocks if len(block) > 1]


def encode_stage(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    kind: str,
    max_length: int,
    *,
    skip_overlong: bool = False,
) -> list[EncodedExample]:
    """Encode a stage's examples as its kind says (text: packed; chat: masked, overlong ones cut or skipped)."""
    if kind == "text":
        texts = [e for e in examples if e.text is not None]
        chats = [e for e in examples if e.is_chat]
        rendered = [Example(e.dataset, e.source, text=render_chat(list(e.messages or ())).text) for e in chats]  # type: ignore[arg-type]
        return pack_texts(tokenizer, texts + rendered, max_length)
    encoded = []
    for example in examples:
        if example.is_chat:
            item = encode_chat(tokenizer, example, max_length, skip_overlong=skip_overlong)
        else:
            blocks = pack_texts(tokenizer, [example], max_length)
            item = blocks[0] if blocks else None
        if item is not None:
            encoded.append(item)
    return encoded


class PaddingCollator:
    """Right-pads a batch: pad id for inputs, -100 for labels, and the attention mask."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id
        self.tokens = 0  # real (unpadded) tokens collated so far: a stage's tokens/s

    def __call__(self, batch: Sequence[EncodedExample | dict[str, Any]]) -> dict[str, torch.Tensor]:
        import torch

        items = [b if isinstance(b, EncodedExample) else EncodedExample(b["input_ids"], b["labels"]) for b in batch]
        width = max(len(item.input_ids) for item in items)
        self.tokens += sum(len(item.input_ids) for item in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            length = len(item.input_ids)
            input_ids[row, :length] = torch.tensor(item.input_ids, dtype=torch.long)
            labels[row, :length] = torch.tensor(item.labels, dtype=torch.long)
            attention[row, :length] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
