"""The hybrid engine: rules facts completed by grounded LLM values, disagreements flagged, a source per value."""

from __future__ import annotations

from typing import Any

from services.extract.engine import Extraction
from services.extract.handlers import to_event
from services.extract.hybrid import HybridEngine, merge
from shared.events import Evidence, FactConfidence, KeyFacts
from tests.services.extract.llm.conftest import (
    TALK_FACTS,
    TALK_TEXTS,
    FixedRules,
    facts_with,
    make_engine,
    make_thread,
    talk_replies,
)
from tests.support.tgi_server import Reply, TgiTestServer


def extraction(facts: dict[str, Any], engine: str = "rules", **extra: Any) -> Extraction:
    return Extraction(facts=KeyFacts.model_validate(facts), engine=engine, **extra)  # type: ignore[arg-type]


def test_a_grounded_llm_value_fills_a_rules_null_and_is_credited_to_the_llm() -> None:
    rules = extraction(facts_with(moq=None), summary="rules summary")
    llm = extraction(TALK_FACTS, "llm", summary="llm summary", tags=["견적"], model="gemma", adapter_id="v3")
    merged = merge(rules, llm)
    assert merged.facts == KeyFacts.model_validate(TALK_FACTS)
    assert merged.value_sources["moq"] == "llm"
    assert merged.value_sources["items.0.unit_price"] == "rules"
    assert (merged.engine, merged.model, merged.adapter_id) == ("hybrid", "gemma", "v3")
    assert (merged.summary, merged.tags) == ("llm summary", ["견적"])
    assert not merged.needs_review


def test_a_disagreement_keeps_the_rules_value_names_both_and_needs_review() -> None:
    rules = extraction(TALK_FACTS)
    llm = extraction(facts_with(items__0__unit_price=10000, delivery_lead_time_days=14), "llm")
    merged = merge(rules, llm)
    assert merged.facts.items[0].unit_price == 9500 and merged.facts.delivery_lead_time_days == 7
    assert "disagreement: items.0.unit_price llm=10000.0 rules=9500.0" in merged.warnings
    assert "disagreement: delivery_lead_time_days llm=14 rules=7" in merged.warnings
    assert merged.value_sources["items.0.unit_price"] == "rules"
    assert merged.needs_review


def test_the_llm_engine_s_own_disagreement_warning_is_not_repeated() -> None:
    rules = extraction(TALK_FACTS)
    own = "disagreement: moq llm=60.0 rules=50.0"
    merged = merge(rules, extraction(facts_with(moq=60), "llm", warnings=[own]))
    assert [w for w in merged.warnings if w.startswith("disagreement: moq")] == [own]


def test_an_llm_party_that_is_the_other_side_never_fills_a_gap() -> None:
    """The model calling the supplier the buyer must not give the buyer the supplier's name."""
    rules = extraction(facts_with(buyer__name=None, buyer__email=None, buyer__company=None))
    swapped = facts_with(buyer=dict(TALK_FACTS["supplier"]))
    merged = merge(rules, extraction(swapped, "llm"))
    assert merged.facts.buyer is None or (merged.facts.buyer.name, merged.facts.buyer.email) == (None, None)
    assert any(w.startswith("hybrid: the llm's buyer") for w in merged.warnings)


def test_items_only_the_llm_found_are_used_when_the_rules_found_none() -> None:
    rules = extraction({**TALK_FACTS, "items": []})
    merged = merge(rules, extraction(TALK_FACTS, "llm"))
    assert merged.facts.items == KeyFacts.model_validate(TALK_FACTS).items
    assert {path for path, source in merged.value_sources.items() if source == "llm"} == {
        f"items.0.{name}" for name in ("product", "quantity", "unit", "unit_price", "currency", "discount_percent")
    }


def test_extra_llm_items_beside_the_rules_items_are_named_and_need_review() -> None:
    extra_item = {**TALK_FACTS["items"][0], "product": "Y 제품"}
    llm = extraction({**TALK_FACTS, "items": [*TALK_FACTS["items"], extra_item]}, "llm")
    merged = merge(extraction(TALK_FACTS), llm)
    assert len(merged.facts.items) == 1
    assert "hybrid: the llm found items the rules engine did not: ['Y 제품']" in merged.warnings
    assert merged.needs_review


def test_a_summary_with_unstated_numbers_gives_way_to_the_rules_summary() -> None:
    llm = extraction(TALK_FACTS, "llm", summary="개당 7,000원", warnings=["grounding: the summary mentions 7000"])
    merged = merge(extraction(TALK_FACTS, summary="rules summary", tags=["rules"]), llm)
    assert (merged.summary, merged.tags) == ("rules summary", ["rules"])


async def test_hybrid_over_http_fills_from_the_model_and_the_event_says_which_engine_gave_each_value() -> None:
    rules = FixedRules(KeyFacts.model_validate(facts_with(moq=None)))
    talk_thread = make_thread(TALK_TEXTS)
    async with TgiTestServer() as server:
        server.reply_with(*talk_replies())
        engine = HybridEngine(rules, make_engine(server, rules=rules))
        event = to_event(talk_thread, await engine.extract(talk_thread))

    assert event.engine == "hybrid"
    assert event.facts.moq == 50
    assert event.value_sources["moq"] == "llm" and event.value_sources["items.0.unit_price"] == "rules"
    assert any(e.field == "moq" for e in event.evidence)  # the LLM's grounding span comes along


async def test_hybrid_falls_back_to_the_rules_result_when_the_model_is_down() -> None:
    talk_thread = make_thread(TALK_TEXTS)
    rules = FixedRules(KeyFacts.model_validate(facts_with(moq=None)))
    async with TgiTestServer(responder=lambda _: Reply.failure("unknown", "CUDA out of memory")) as server:
        engine = HybridEngine(rules, make_engine(server, rules=rules, llm_max_attempts=1))
        event = to_event(talk_thread, await engine.extract(talk_thread))
    assert event.engine == "rules" and event.facts.moq is None
    assert event.warnings[0].startswith("fallback: llm engine unavailable, rules engine used")
    assert set(event.value_sources.values()) == {"rules"}


def test_rules_and_llm_events_credit_every_value_to_their_engine() -> None:
    thread_facts = KeyFacts.model_validate(TALK_FACTS)
    assert set(extraction(TALK_FACTS).sources().values()) == {"rules"}
    llm_sources = extraction(TALK_FACTS, "llm").sources()
    assert set(llm_sources.values()) == {"llm"} and "items.0.unit_price" in llm_sources
    assert "delivery_date" not in llm_sources and thread_facts.delivery_date is None


def _confidence(source: str, score: float) -> FactConfidence:
    return FactConfidence(source=source, score=score)  # type: ignore[arg-type]


def _grounded(path: str) -> Evidence:
    return Evidence(field=path, message_id="m2@test", start=0, end=5, text="9,800")


def test_a_disagreement_takes_the_value_with_the_stronger_evidence() -> None:
    """A rules price computed from weak statements loses to an LLM price grounding found in the thread."""
    weak = extraction(TALK_FACTS, confidence={"items.0.unit_price": _confidence("inferred", 0.45)})
    llm = extraction(facts_with(items__0__unit_price=9800), "llm", evidence=[_grounded("items.0.unit_price")])
    merged = merge(weak, llm)
    assert merged.facts.items[0].unit_price == 9800
    assert merged.value_sources["items.0.unit_price"] == "llm"
    assert merged.confidence is not None and merged.confidence["items.0.unit_price"].engine == "llm"
    assert "disagreement: items.0.unit_price llm=9800.0 rules=9500.0" in merged.warnings
    assert merged.needs_review


def test_a_labelled_rules_value_wins_over_a_grounded_llm_value() -> None:
    strong = extraction(TALK_FACTS, confidence={"items.0.unit_price": _confidence("label", 0.9)})
    llm = extraction(facts_with(items__0__unit_price=9800), "llm", evidence=[_grounded("items.0.unit_price")])
    merged = merge(strong, llm)
    assert merged.facts.items[0].unit_price == 9500
    assert merged.value_sources["items.0.unit_price"] == "rules"
    assert merged.confidence is not None and merged.confidence["items.0.unit_price"].score == 0.9


def test_a_gap_filled_by_the_llm_carries_the_llm_s_confidence() -> None:
    rules = extraction(facts_with(moq=None), confidence={})
    merged = merge(rules, extraction(TALK_FACTS, "llm", evidence=[_grounded("moq")]))
    assert merged.confidence is not None
    assert (merged.confidence["moq"].engine, merged.confidence["moq"].source) == ("llm", "sentence")
