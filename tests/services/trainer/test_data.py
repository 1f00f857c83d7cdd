"""A run's data: glossary, synthetic sets and corrections merged; a stable held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.trainer.training.data import (
    CorrectionRecord,
    build_training_data,
    dataset_name,
    example_from_record,
    in_heldout,
    read_jsonl,
)
from shared.llm_format.answers import facts_answer
from tests.services.trainer.corpus import make_correction, make_thread


def _records(n: int) -> list[CorrectionRecord]:
    return [CorrectionRecord(correction, thread) for thread, correction in (make_correction(i) for i in range(n))]


def test_heldout_split_is_stable_and_near_the_requested_share() -> None:
    keys = [f"default:thread-{i}" for i in range(2000)]
    first = [in_heldout(k, 10, seed=1) for k in keys]
    assert first == [in_heldout(k, 10, seed=1) for k in keys]
    assert 150 < sum(first) < 250
    assert not any(in_heldout(k, 0, seed=1) for k in keys)
    assert all(in_heldout(k, 100, seed=1) for k in keys)


def test_corrections_become_extraction_summary_and_heldout_examples() -> None:
    data = build_training_data(training_sets=None, corrections=_records(20), heldout_percent=25, seed=7)
    heldout_ids = {case.case_id for case in data.heldout}
    assert data.heldout and len(data.train["extraction"]) + len(data.heldout) == 20
    # Only corrections with summary and tags make summary examples (every other one in the corpus).
    assert 0 < len(data.train["summary_tags"]) <= len(data.train["extraction"])
    trained_threads = {e.messages[0]["content"] for e in data.train["extraction"] if e.messages}
    for case in data.heldout:
        assert case.prompt[0]["content"] not in trained_threads
        assert case.case_id.startswith("correction:default:thread-")
    assert len(heldout_ids) == len(data.heldout)
    # The glossary fills domain text and Q/A when no synthetic set is given.
    assert data.train["domain"] and all(e.text for e in data.train["domain"])
    assert data.train["pit"] and all(e.is_chat for e in data.train["pit"])
    assert data.corrections_used == 20
    assert data.size == sum(data.counts().values())


def test_synthetic_sets_are_read_by_name_and_split(tmp_path: Path) -> None:
    _, facts = make_thread(5)

    def chat_of(user: str, answer: str) -> dict[str, object]:
        return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}

    chat = chat_of("extract", facts_answer(facts))
    files = {
        "domain.train": [{"text": "FOB: free on board"}],
        "pit.train": [chat_of("Q", "A")],
        "extraction.train": [chat],
        "extraction.test": [chat, chat_of("x", "not facts")],
        "summary.train": [chat],
        "domain.validation": [{"text": "perplexity only"}],
    }
    sets: dict[str, Path] = {}
    for name, rows in files.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        sets[name] = path
    sets["manifest"] = tmp_path / "manifest.json"
    data = build_training_data(training_sets=sets, corrections=[], heldout_percent=10, seed=1)
    assert data.counts() == {"domain": 1, "pit": 1, "extraction": 1, "summary_tags": 1}
    assert len(data.heldout) == 1 and data.heldout[0].expected == facts


def test_dataset_names_map_the_builder_files() -> None:
    assert dataset_name("extraction.test") == ("extraction", "test")
    assert dataset_name("summary.train") == ("summary_tags", "train")
    assert dataset_name("domain.validation") == ("domain", "validation")
    assert dataset_name("manifest") is None
    assert dataset_name("other.train") is None


def test_records_and_files_with_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3"):
        read_jsonl(path)
    with pytest.raises(ValueError, match="needs 'text'"):
        example_from_record("pit", {"question": "?"}, "test")
    system = example_from_record(
        "pit",
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]},
        "test",
    )
    assert system.messages == ({"role": "user", "content": "S\n\nU"},)
