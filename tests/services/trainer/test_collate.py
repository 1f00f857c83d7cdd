"""Tokenised training examples: the loss sees the model's turns only; text is packed into blocks."""

from __future__ import annotations

import pytest

from services.trainer.training.chat import END_OF_TURN, GEMMA2_CHAT_TEMPLATE, render_chat
from services.trainer.training.collate import IGNORE_INDEX, PaddingCollator, encode_chat, encode_stage, pack_texts
from services.trainer.training.data import Example
from tests.services.trainer.corpus import make_thread

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    from services.trainer.training.model import train_tokenizer

    texts = [
        render_chat([{"role": "user", "content": t.subject}, {"role": "assistant", "content": "{}"}]).text
        for t, _ in (make_thread(i) for i in range(10))
    ]
    texts += [m.text for t, _ in (make_thread(i) for i in range(10)) for m in t.messages]
    return train_tokenizer(texts * 5, vocab_size=600)


def _chat(user: str, answer: str) -> Example:
    return Example(
        "extraction", "test", messages=({"role": "user", "content": user}, {"role": "assistant", "content": answer})
    )


def test_tokenizer_has_gemma_special_tokens_and_chat_template(tokenizer) -> None:  # type: ignore[no-untyped-def]
    for token in ("<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"):
        assert tokenizer.convert_tokens_to_ids(token) != tokenizer.unk_token_id
    assert tokenizer.chat_template == GEMMA2_CHAT_TEMPLATE
    messages = [{"role": "user", "content": "견적 요청"}, {"role": "assistant", "content": '{"moq": 50}'}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == render_chat(messages).text
    assert tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True) == (
        render_chat(messages[:1], add_generation_prompt=True).text
    )
    with pytest.raises(Exception, match="System role not supported"):
        tokenizer.apply_chat_template([{"role": "system", "content": "x"}, *messages], tokenize=False)


def test_only_the_model_turn_is_labelled(tokenizer) -> None:  # type: ignore[no-untyped-def]
    encoded = encode_chat(tokenizer, _chat("안녕하세요 견적 부탁드립니다", '{"moq": 50, "currency": "KRW"}'), 512)
    assert encoded is not None
    labelled = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == '{"moq": 50, "currency": "KRW"}' + END_OF_TURN
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(encoded.input_ids, encoded.labels, strict=True))


def test_truncation_that_leaves_no_answer_drops_the_example(tokenizer) -> None:  # type: ignore[no-untyped-def]
    assert encode_chat(tokenizer, _chat("a long question " * 50, "answer"), 16) is None


def test_overlong_conversations_can_be_skipped_instead_of_cut(tokenizer) -> None:  # type: ignore[no-untyped-def]
    long = _chat("a long question " * 20, "the whole answer, quite a long one")
    whole = encode_chat(tokenizer, long, 512, skip_overlong=True)
    assert whole is not None
    limit = len(whole.input_ids) - 3
    cut = encode_chat(tokenizer, long, limit)
    assert cut is not None and len(cut.input_ids) == limit  # truncated: the end of the answer is lost
    assert 0 < cut.trained_tokens < whole.trained_tokens
    assert encode_chat(tokenizer, long, limit, skip_overlong=True) is None
    short = _chat("q", "a")
    assert len(encode_stage(tokenizer, [long, short], "chat", limit, skip_overlong=True)) == 1
    assert len(encode_stage(tokenizer, [long, short], "chat", limit)) == 2


def test_text_is_packed_into_full_blocks_with_every_token_labelled(tokenizer) -> None:  # type: ignore[no-untyped-def]
    texts = [Example("domain", "test", text=f"FOB 본선인도 조건 {i} " * 5) for i in range(10)]
    blocks = pack_texts(tokenizer, texts, 32)
    assert all(len(b.input_ids) == 32 for b in blocks[:-1])
    assert all(b.labels == b.input_ids for b in blocks)
    mixed = encode_stage(tokenizer, [*texts, _chat("q", "a")], "text", 32)
    assert sum(len(b.input_ids) for b in mixed) > sum(len(b.input_ids) for b in blocks)


def test_collator_pads_inputs_labels_and_mask(tokenizer) -> None:  # type: ignore[no-untyped-def]
    short = encode_chat(tokenizer, _chat("q", "a"), 64)
    long = encode_chat(tokenizer, _chat("a longer question here", "a longer answer"), 64)
    assert short is not None and long is not None
    batch = PaddingCollator(tokenizer.pad_token_id)([short, {"input_ids": long.input_ids, "labels": long.labels}])
    width = len(long.input_ids)
    assert batch["input_ids"].shape == (2, width)
    assert batch["attention_mask"][0].sum().item() == len(short.input_ids)
    assert batch["input_ids"][0, -1].item() == tokenizer.pad_token_id
    assert batch["labels"][0, len(short.input_ids) :].eq(IGNORE_INDEX).all()
