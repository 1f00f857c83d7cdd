"""Few-shot selection from the correction store: nearest threads first, bad entries skipped, seeds fill in."""

from __future__ import annotations

import json

from services.extract.llm.fewshot import FewShotSelector, fewshot_key
from services.extract.llm.seed_examples import seed_examples
from shared.store import MemoryStore
from tests.services.extract.llm.conftest import TALK_FACTS, TALK_TEXTS, make_thread


async def test_nearest_examples_are_chosen_and_malformed_ones_skipped() -> None:
    store = MemoryStore()
    korean = make_thread(TALK_TEXTS[:3], thread_id="t-korean")
    english = make_thread([("buyer", "Please quote 20 valves DN50, FOB Busan.")], thread_id="t-en", subject="Valves")
    for thread in (korean, english):
        entry = {"thread": thread.model_dump(mode="json"), "facts": TALK_FACTS, "summary": None, "tags": None}
        await store.hset(fewshot_key("default"), thread.thread_id, json.dumps(entry, ensure_ascii=False))
    await store.hset(fewshot_key("default"), "t-bad", "{not json")

    chosen = await FewShotSelector(store).select(make_thread(TALK_TEXTS), k=2)

    assert [e.thread.thread_id for e in chosen] == ["t-korean", "t-en"]
    assert chosen[0].similarity > chosen[1].similarity


async def test_the_thread_itself_is_never_its_own_example() -> None:
    store = MemoryStore()
    thread = make_thread(TALK_TEXTS)
    entry = {"thread": thread.model_dump(mode="json"), "facts": TALK_FACTS}
    await store.hset(fewshot_key("default"), thread.thread_id, json.dumps(entry, ensure_ascii=False))
    assert await FewShotSelector(store, seeds=()).select(thread, k=2) == []


async def test_without_corrections_the_nearest_seed_examples_fill_in() -> None:
    korean = make_thread(TALK_TEXTS)
    chosen = await FewShotSelector(None).select(korean, k=1)
    assert [e.thread.thread_id for e in chosen] == ["seed-ko-negotiation"]
    assert len(await FewShotSelector(None).select(korean, k=2)) == 2


async def test_corrections_come_before_seeds_and_seeds_only_top_up() -> None:
    store = MemoryStore()
    similar = make_thread(TALK_TEXTS[:2], thread_id="t-similar")
    entry = {"thread": similar.model_dump(mode="json"), "facts": TALK_FACTS}
    await store.hset(fewshot_key("default"), similar.thread_id, json.dumps(entry, ensure_ascii=False))
    chosen = await FewShotSelector(store).select(make_thread(TALK_TEXTS), k=2)
    assert chosen[0].thread.thread_id == "t-similar"
    assert chosen[1].thread.thread_id in {e.thread.thread_id for e in seed_examples()}


async def test_no_store_and_no_seeds_means_zero_shot() -> None:
    assert await FewShotSelector(None, seeds=()).select(make_thread(TALK_TEXTS), k=2) == []


def test_seed_answers_are_stated_in_their_own_threads() -> None:
    """A seed example must teach grounded answers: every number it answers with is in its thread."""
    from services.extract.llm.grounding import ground

    for example in seed_examples():
        grounded = ground(example.answer.facts, example.thread)
        assert grounded.dropped == [], (example.thread.thread_id, grounded.dropped)
