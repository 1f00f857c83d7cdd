"""Answer-only logits: the same loss and LoRA gradients as the model's own full-vocabulary loss."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from services.trainer.training.answer_loss import answer_only_loss, causal_parts  # noqa: E402
from services.trainer.training.collate import IGNORE_INDEX  # noqa: E402

pytestmark = pytest.mark.train


def _model(kind: str) -> Any:
    """A small random Gemma 2 (final logit soft-capping) or Gemma 3 (none) with LoRA on q/k/v/o."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig

    shape = {
        "vocab_size": 300,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "initializer_range": 0.2,
    }
    torch.manual_seed(0)
    if kind == "gemma2":
        model = Gemma2ForCausalLM(Gemma2Config(**shape, final_logit_softcapping=30.0, attn_implementation="eager"))
    else:
        model = Gemma3ForCausalLM(Gemma3TextConfig(**shape, attn_implementation="eager"))
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]
    )
    peft_model = get_peft_model(model, lora)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # B starts at zero: give the adapter something to contribute
            torch.nn.init.normal_(parameter, std=0.5)
    return peft_model


def _batch() -> dict[str, Any]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(4, 300, (2, 12), generator=generator)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[0, 7:] = input_ids[0, 7:]  # an answer at the end
    labels[1, 3:6] = input_ids[1, 3:6]  # and one in the middle of a right-padded row
    attention = torch.ones_like(input_ids)
    attention[1, 9:] = 0
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def _lora_grads(model: Any) -> dict[str, Any]:
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("kind", ["gemma2", "gemma3"])
def test_loss_and_gradients_match_the_full_logits_loss(kind: str) -> None:
    model = _model(kind)
    model.train()
    batch = _batch()
    full = model(**batch).loss
    full.backward()
    expected = _lora_grads(model)

    loss, tokens = answer_only_loss(model, batch["input_ids"], batch["labels"], batch["attention_mask"])
    loss.backward()
    got = _lora_grads(model)

    assert tokens == 5 + 3  # labelled tokens (each has a position before it): row 0 7..11, row 1 3..5
    assert float(loss) == pytest.approx(float(full), rel=1e-5)
    assert expected and set(got) == set(expected)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_summed_over_the_accumulated_batch_when_trainer_counts_the_tokens() -> None:
    model = _model("gemma3")
    batch = _batch()
    with torch.no_grad():
        full = model(**batch, num_items_in_batch=20).loss
        loss, tokens = answer_only_loss(model, batch["input_ids"], batch["labels"], batch["attention_mask"], 20)
        mean, _ = answer_only_loss(model, batch["input_ids"], batch["labels"], batch["attention_mask"])
    assert float(loss) == pytest.approx(float(full), rel=1e-5)
    assert float(loss) == pytest.approx(float(mean) * tokens / 20, rel=1e-5)


def test_models_without_a_body_and_head_are_refused() -> None:
    with pytest.raises(TypeError, match="lm_head"):
        causal_parts(torch.nn.Linear(2, 2))
