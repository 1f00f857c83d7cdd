"""Gemma 2 chat format: no system role, strict alternation, exact spans of the model's turns."""

from __future__ import annotations

import pytest

from services.trainer.training.chat import (
    END_OF_TURN,
    ChatFormatError,
    fold_system_prompt,
    generation_prompt,
    render_chat,
)


def test_model_turn_spans_cover_content_and_end_of_turn_only() -> None:
    rendered = render_chat(
        [
            {"role": "user", "content": "견적 부탁드립니다"},
            {"role": "assistant", "content": '{"moq": 50}'},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": "ok"},
        ]
    )
    assert rendered.text == (
        "<bos><start_of_turn>user\n견적 부탁드립니다<end_of_turn>\n"
        '<start_of_turn>model\n{"moq": 50}<end_of_turn>\n'
        "<start_of_turn>user\nthanks<end_of_turn>\n"
        "<start_of_turn>model\nok<end_of_turn>\n"
    )
    trained = [rendered.text[start:end] for start, end in rendered.trained_spans]
    assert trained == ['{"moq": 50}' + END_OF_TURN, "ok" + END_OF_TURN]


def test_system_prompt_is_folded_into_the_first_user_turn() -> None:
    folded = fold_system_prompt([{"role": "system", "content": "Be exact."}, {"role": "user", "content": "Hi"}])
    assert folded == [{"role": "user", "content": "Be exact.\n\nHi"}]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "assistant", "content": "first"}],
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [{"role": "tool", "content": "x"}],
        [{"role": "system", "content": "only a system turn"}],
    ],
)
def test_conversations_gemma_cannot_take_are_refused(messages: list[dict[str, str]]) -> None:
    with pytest.raises(ChatFormatError):
        render_chat(messages)


def test_generation_prompt_opens_a_model_turn() -> None:
    assert generation_prompt("Q?") == "<bos><start_of_turn>user\nQ?<end_of_turn>\n<start_of_turn>model\n"
