"""Few-shot selection from the correction store: nearest threads first, bad entries skipped."""

from __future__ import annotations

import json

from services.extract.llm.fewshot import FewShotSelector, fewshot_key
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
    assert await FewShotSelector(store).select(thread, k=2) == []


async def test_no_store_means_zero_shot() -> None:
    assert await FewShotSelector(None).select(make_thread(TALK_TEXTS), k=2) == []
