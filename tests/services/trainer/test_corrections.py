"""Corrections: refused without their thread, few-shot store updated at once, deduplicated on disk."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from services.trainer.corrections import CorrectionStore, fewshot_key, thread_key
from shared.consumer import PermanentError
from shared.events import KeyFacts, NormalizedThread
from shared.store import MemoryStore
from tests.services.trainer.corpus import make_correction


async def _known(store: MemoryStore, thread: NormalizedThread) -> None:
    await store.set(thread_key(thread.tenant, thread.thread_id), thread.model_dump_json())


async def test_correction_for_an_unknown_thread_is_permanent_and_stores_nothing(tmp_path: Path) -> None:
    store = MemoryStore()
    corrections = CorrectionStore(tmp_path, store)
    _, correction = make_correction(1)
    with pytest.raises(PermanentError, match="unknown thread 'thread-1'"):
        await corrections.accept(correction)
    assert await store.hgetall(fewshot_key("default")) == {}
    assert corrections.total() == 0


async def test_a_damaged_stored_thread_is_a_permanent_error(tmp_path: Path) -> None:
    store = MemoryStore()
    _, correction = make_correction(1)
    await store.set(thread_key("default", "thread-1"), b'{"not": "a thread"}')
    with pytest.raises(PermanentError, match="not a valid NormalizedThread"):
        await CorrectionStore(tmp_path, store).accept(correction)


async def test_accepted_correction_reaches_fewshot_store_and_dataset_once(tmp_path: Path) -> None:
    store = MemoryStore()
    corrections = CorrectionStore(tmp_path, store)
    thread, correction = make_correction(2, tenant="acme")
    await _known(store, thread)

    assert await corrections.accept(correction) is True
    assert await corrections.accept(correction) is False  # redelivered: same facts, same thread

    entry = json.loads((await store.hget(fewshot_key("acme"), "thread-2")) or b"{}")
    assert set(entry) == {"schema_version", "thread", "facts", "summary", "tags"}
    assert NormalizedThread.model_validate(entry["thread"]) == thread
    assert KeyFacts.model_validate(entry["facts"]) == correction.facts
    assert entry["summary"] == correction.summary and entry["tags"] == correction.tags

    lines = (tmp_path / "corrections-acme.jsonl").read_text().splitlines()
    assert len(lines) == 1
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"]["corrections-acme.jsonl"] == {"tenant": "acme", "records": 1}
    assert manifest["total_records"] == 1 == corrections.total()


async def test_the_latest_correction_of_a_thread_is_the_one_trained_on(tmp_path: Path) -> None:
    store = MemoryStore()
    corrections = CorrectionStore(tmp_path, store)
    thread, first = make_correction(3)
    await _known(store, thread)
    second = first.model_copy(
        update={"facts": first.facts.model_copy(update={"moq": 10}), "corrected_at": first.corrected_at + timedelta(1)}
    )
    other_thread, other = make_correction(4)
    await _known(store, other_thread)
    for correction in (second, first, other):  # arrival order differs from correction order
        assert await corrections.accept(correction)
    assert corrections.total() == 3
    loaded = {r.correction.thread_id: r for r in corrections.load()}
    assert set(loaded) == {"thread-3", "thread-4"}
    assert loaded["thread-3"].correction.facts.moq == 10
    assert loaded["thread-3"].thread == thread
    # The few-shot store holds the last one that arrived for a thread.
    entry = json.loads((await store.hget(fewshot_key("default"), "thread-3")) or b"{}")
    assert entry["facts"]["moq"] is None


async def test_a_broken_dataset_line_is_reported_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "corrections-default.jsonl").write_text('{"thread_id": "x"}\n')
    with pytest.raises(ValueError, match=r"corrections-default.jsonl:1"):
        CorrectionStore(tmp_path, MemoryStore()).load()
