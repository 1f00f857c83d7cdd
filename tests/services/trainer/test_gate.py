"""The evaluation gate: promote unless key-fact F1 drops by more than the margin; score what the model says."""

from __future__ import annotations

from services.trainer.training.data import EvalCase, task_conversation
from services.trainer.training.evaluate import decide, score_answers
from shared.llm_format.answers import facts_answer
from tests.services.trainer.corpus import make_thread


def test_no_adapter_in_service_promotes() -> None:
    assert decide(0.3, None, 0.0).promote


def test_equal_or_better_f1_promotes_and_a_drop_beyond_the_margin_does_not() -> None:
    assert decide(0.72, 0.72, 0.0).promote
    assert decide(0.80, 0.72, 0.0).promote
    assert decide(0.70, 0.72, 0.02).promote
    rejected = decide(0.69, 0.72, 0.02)
    assert not rejected.promote and "dropped" in rejected.reason


def test_answers_are_scored_with_key_fact_f1_and_bad_json_counts_as_empty() -> None:
    cases = []
    for index in range(3):
        thread, facts = make_thread(index)
        cases.append(EvalCase(f"c{index}", task_conversation("facts", thread), facts))
    perfect = score_answers(cases, [facts_answer(case.expected) for case in cases])
    assert perfect["key_fact_f1"] == 1.0 and perfect["json_valid_rate"] == 1.0 and perfect["exact_threads"] == 3
    garbage = score_answers(cases, ["the model rambles", "{", "[]"])
    assert garbage["key_fact_f1"] == 0.0 and garbage["json_valid_rate"] == 0.0
    mixed = score_answers(cases, [facts_answer(cases[0].expected), "nothing", "nothing"])
    assert 0.0 < mixed["key_fact_f1"] < 1.0
    assert mixed["heldout_examples"] == 3
