"""Dataset builders: chat-format JSONL per split, no thread shared between splits, PIT split by term."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.trainer.synth.datasets import SPLITS, build_training_sets, split_ids
from shared.events import KeyFacts, LineItem, Party

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"


def _write_layout(root: Path, copies: int) -> None:
    """The repository's example threads, each under several ids, with hand-written expected facts."""
    talk = KeyFacts(
        buyer=Party(name="김서연", company="한빛무역", email="seoyeon.kim@hanbit-trading.co.kr"),
        supplier=Party(name="박준호", company="대양부품", email="junho.park@daeyang-parts.com"),
        currency="KRW",
        items=[
            LineItem(product="X 제품", quantity=100, unit="개", unit_price=9500, currency="KRW", discount_percent=5)
        ],
        moq=50,
        delivery_lead_time_days=7,
        quote_requested=True,
    )
    for index in range(copies):
        case = root / f"talk-{index:03d}"
        case.mkdir(parents=True)
        shutil.copy(EXAMPLES / "talk-x-product.mbox", case / "thread.mbox")
        payload = {"expected": talk.model_dump(mode="json"), "summary": "1. 문의 …", "tags": ["거래", "협상"]}
        (case / "expected.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_split_ids_is_seeded_and_covers_every_split() -> None:
    ids = [f"t{i}" for i in range(20)]
    first, again = split_ids(ids, seed=1), split_ids(ids, seed=1)
    assert first == again
    assert set(first.values()) == set(SPLITS)
    assert sum(v == "train" for v in first.values()) == 16
    assert split_ids(ids, seed=2) != first


def test_build_training_sets_writes_chat_jsonl_without_shared_threads(tmp_path: Path) -> None:
    _write_layout(tmp_path / "threads", copies=10)
    paths = build_training_sets(tmp_path / "threads", tmp_path / "out", seed=0)
    assert {f"{d}.{s}" for d in ("domain", "pit", "extraction", "summary") for s in SPLITS} <= set(paths)

    seen: dict[str, str] = {}
    for split in SPLITS:
        for row in _read(paths[f"extraction.{split}"]):
            assert row["split"] == split
            assert seen.setdefault(str(row["thread_id"]), split) == split
            messages = row["messages"]
            assert isinstance(messages, list)
            assert [m["role"] for m in messages] == ["user", "assistant"]
            facts = KeyFacts.model_validate_json(messages[1]["content"])
            assert facts.items[0].unit_price == 9500
            assert "9,500원" in messages[0]["content"]
        for row in _read(paths[f"summary.{split}"]):
            assert seen[str(row["thread_id"])] == split
            assert json.loads(row["messages"][1]["content"])["tags"] == ["거래", "협상"]  # type: ignore[index]
    assert len(seen) == 10

    pit_terms: dict[str, str] = {}
    kinds = set()
    for split in SPLITS:
        for row in _read(paths[f"pit.{split}"]):
            assert pit_terms.setdefault(str(row["term"]), split) == split
            kinds.add(row["kind"])
    assert kinds == {"term_definition", "multiple_choice"}

    domain = _read(paths["domain.train"])
    assert all(isinstance(r["text"], str) and r["text"] for r in domain)
    assert {r["source"] for r in domain} == {"glossary", "thread"}
    manifest = json.loads(paths["manifest"].read_text())
    assert sum(len(v) for v in manifest["splits"].values()) == 10


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    from services.trainer.cases import LayoutError

    with pytest.raises(LayoutError, match="no such directory"):
        build_training_sets(tmp_path / "nope", tmp_path / "out", seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match=r"no <id>/thread\.mbox"):
        build_training_sets(tmp_path / "empty", tmp_path / "out", seed=0)
