"""Logits only where the loss is: the model body on every token, the vocabulary head on the answer tokens.

Gemma's head projects to a 262k-token vocabulary: on Gemma 3 270M it is most of a training step's time and
memory when it runs on every position. A chat example trains only the model's turns (the collator labels the
prompt and the thread -100), so those logits are thrown away. :func:`answer_only_loss` runs the decoder body,
keeps the hidden states of the positions whose next token is labelled, and applies the head (and Gemma 2's
final logit soft-capping) there only. The loss is the same number as the model's own shifted cross-entropy
(``bench/bench_train_step.py`` measures the difference in time and memory).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional
from transformers import Trainer

IGNORE_INDEX = -100


def causal_parts(model: Any) -> tuple[Any, Any, float | None]:
    """The decoder body, the LM head and the final soft-cap of a (PEFT-wrapped) causal LM.

    LoRA layers live inside the body's modules, so calling the body directly trains them too.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    body, head = getattr(inner, "model", None), getattr(inner, "lm_head", None)
    if body is None or head is None:
        raise TypeError(f"{type(inner).__name__} has no .model body and .lm_head: answer-only logits do not apply")
    softcap = getattr(inner.config, "final_logit_softcapping", None)
    return body, head, softcap


def answer_only_loss(
    model: Any,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """Shifted cross-entropy over labelled tokens, computing logits only at the positions that predict them.

    Returns the loss and how many tokens it covers. With ``num_items_in_batch`` (the labelled tokens of the
    whole accumulated batch, as Trainer counts them) the loss is a sum divided by it, else a mean.
    """
    body, head, softcap = causal_parts(model)
    hidden = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    selected = hidden[:, :-1][keep]  # (tokens, hidden): the positions whose next token is trained
    logits = head(selected).float()
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    count = int(keep.sum())
    if num_items_in_batch is None:
        loss = functional.cross_entropy(logits, targets[keep], reduction="mean")
    else:
        total = functional.cross_entropy(logits, targets[keep], reduction="sum")
        if isinstance(num_items_in_batch, torch.Tensor):
            num_items_in_batch = num_items_in_batch.to(total.device)
        loss = total / num_items_in_batch
    return loss, count


class AnswerOnlyTrainer(Trainer):
    """transformers' Trainer with :func:`answer_only_loss` in place of the model's full-vocabulary loss."""

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        loss, _ = answer_only_loss(
            model,
            inputs["input_ids"],
            inputs["labels"],
            inputs.get("attention_mask"),
            num_items_in_batch,
        )
        # Summed over the accumulated batch's tokens: already scaled for gradient accumulation; a mean is not.
        self.loss_is_scaled_for_ga = num_items_in_batch is not None
        return (loss, None) if return_outputs else loss
