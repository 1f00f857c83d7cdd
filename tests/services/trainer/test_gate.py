"""The evaluation gate: promote unless key-fact F1 drops by more than the margin; score what the model says."""

from __future__ import annotations

from services.trainer.training.data import EvalCase, task_conversation
from services.trainer.training.evaluate import decide, score_answers
from shared.llm_format.answers import facts_answer
from tests.services.trainer.corpus import make_thread


def f1(value: float) -> dict[str, float]:
    return {"key_fact_f1": value}


def test_no_adapter_in_service_promotes() -> None:
    assert decide(f1(0.3), None, 0.0).promote


def test_equal_or_better_f1_promotes_and_a_drop_beyond_the_margin_does_not() -> None:
    assert decide(f1(0.72), f1(0.72), 0.0).promote
    assert decide(f1(0.80), f1(0.72), 0.0).promote
    assert decide(f1(0.70), f1(0.72), 0.02).promote
    rejected = decide(f1(0.69), f1(0.72), 0.02)
    assert not rejected.promote and "key_fact_f1 dropped" in rejected.reason


def test_a_drop_in_tag_f1_or_semscore_refuses_even_when_key_facts_improve() -> None:
    baseline = {"key_fact_f1": 0.5, "tag_f1": 0.6, "semscore": 0.7}
    assert decide({"key_fact_f1": 0.9, "tag_f1": 0.6, "semscore": 0.69}, baseline, 0.02).promote
    tags = decide({"key_fact_f1": 0.9, "tag_f1": 0.4, "semscore": 0.8}, baseline, 0.02)
    assert not tags.promote and "tag_f1 dropped" in tags.reason
    sem = decide({"key_fact_f1": 0.9, "tag_f1": 0.7, "semscore": 0.5}, baseline, 0.02)
    assert not sem.promote and "semscore dropped" in sem.reason


def test_answers_that_are_not_valid_json_refuse_the_adapter_even_without_one_in_service() -> None:
    facts = decide({"key_fact_f1": 0.9, "json_valid_rate": 0.8, "summary_json_valid_rate": 1.0}, None, 0.0, 0.9)
    assert not facts.promote and "key-facts answers are valid JSON in 80%" in facts.reason
    summary = decide({"key_fact_f1": 0.9, "json_valid_rate": 1.0, "summary_json_valid_rate": 0.5}, None, 0.0, 0.9)
    assert not summary.promote and "summary answers" in summary.reason
    assert decide({"key_fact_f1": 0.9, "json_valid_rate": 0.9, "summary_json_valid_rate": 0.9}, None, 0.0, 0.9).promote


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


def test_summaries_are_scored_with_tag_f1_and_semscore_and_bad_json_scores_zero() -> None:
    from services.trainer.evaluation.semantic import Similarity
    from services.trainer.training.data import SummaryCase
    from services.trainer.training.evaluate import score_summaries
    from shared.llm_format.answers import summary_answer

    thread, _ = make_thread(0)
    cases = [
        SummaryCase(f"s{i}", task_conversation("summary", thread), f"Buyer asks for {i} valves", ("valve", "quote"))
        for i in range(2)
    ]
    similarity = Similarity(use_model=False)
    perfect = score_summaries(cases, [summary_answer(c.summary, list(c.tags)) for c in cases], similarity)
    assert perfect["tag_f1"] == 1.0 and perfect["semscore"] > 0.99 and perfect["summary_json_valid_rate"] == 1.0
    half = score_summaries(cases, [summary_answer(cases[0].summary, ["valve", "quote"]), "not json"], similarity)
    assert half["summary_json_valid_rate"] == 0.5
    assert 0.49 < half["semscore"] < 0.51 and 0.6 < half["tag_f1"] < 0.7  # P 1.0, R 0.5
