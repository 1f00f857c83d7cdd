"""Adapter registry: every run recorded, promotions stacked, rollback in one step, the pipeline told."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.registry import AdapterAnnouncer, AdapterRegistry, RegistryError
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.store import MemoryStore


def _event(adapter_id: str, promoted: bool, f1: float = 0.5) -> AdapterEvent:
    return AdapterEvent(
        adapter_id=adapter_id,
        base_model="/models/gemma-2-2b-it",
        path=f"/adapters/{adapter_id}",
        promoted=promoted,
        metrics={"key_fact_f1": f1},
    )


class Published(list[AdapterEvent]):
    async def __call__(self, event: AdapterEvent) -> None:
        self.append(event)


def test_runs_are_recorded_and_the_last_promoted_one_serves(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path)
    assert registry.promoted() is None and registry.list() == []
    registry.record(_event("a1", True))
    registry.record(_event("a2", False, 0.1))
    assert registry.promoted() is not None and registry.promoted().adapter_id == "a1"  # type: ignore[union-attr]
    registry.record(_event("a3", True, 0.6))
    assert registry.promoted().adapter_id == "a3"  # type: ignore[union-attr]
    assert [e.adapter_id for e in registry.list()] == ["a1", "a2", "a3"]
    state = registry.load()
    assert state.promotions == ["a1", "a3"]
    assert [entry["action"] for entry in state.log] == ["promoted", "rejected", "promoted"]
    assert (tmp_path / "registry.json").exists()


def test_the_adapter_formats_and_the_gguf_check_are_recorded_beside_the_event(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path)
    formats = {
        "peft": {"path": "/adapters/a1/adapter_model.safetensors", "config": "/adapters/a1/adapter_config.json"},
        "gguf": {
            "required": True,
            "exported": True,
            "path": "/adapters/a1/adapter.gguf",
            "check": {"passed": True, "samples": 3, "max_new_tokens": 24, "mismatches": []},
        },
    }
    registry.record(_event("a1", True), formats)
    registry.record(_event("a2", False))  # recorded without formats (an older trainer)
    assert registry.formats("a1") == formats and registry.formats("a2") == {}
    assert AdapterRegistry(tmp_path).load().formats == {"a1": formats}
    registry.record(_event("a3", True), {"peft": {"path": "/adapters/a3/adapter_model.safetensors"}})
    event, state = registry.plan_rollback()
    registry.save(state)
    assert event.adapter_id == "a1" and registry.formats("a1") == formats  # kept through a rollback


def test_rollback_repromotes_the_previous_adapter_and_pops_the_current(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path)
    for adapter_id in ("a1", "a2", "a3"):
        registry.record(_event(adapter_id, True))
    event, state = registry.plan_rollback()
    assert registry.promoted().adapter_id == "a3"  # type: ignore[union-attr]  # nothing saved before announcing
    registry.save(state)
    assert event.adapter_id == "a2" and event.promoted and event.previous_adapter_id == "a3"
    assert "rollback from a3" in event.reason
    assert registry.promoted().adapter_id == "a2"  # type: ignore[union-attr]
    event, state = registry.plan_rollback()
    registry.save(state)
    assert event.adapter_id == "a1"
    with pytest.raises(RegistryError, match="a1 is the only adapter"):
        registry.plan_rollback()


def test_rollback_without_any_promotion_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no adapter has been promoted"):
        AdapterRegistry(tmp_path).plan_rollback()


def test_damaged_registry_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text("{broken")
    with pytest.raises(RegistryError, match="damaged"):
        AdapterRegistry(tmp_path).load()


async def test_announcer_publishes_every_run_and_stores_only_promoted_ones() -> None:
    store, published = MemoryStore(), Published()
    announcer = AdapterAnnouncer(store, published)
    await announcer.announce(_event("a1", True))
    await announcer.announce(_event("a2", False))
    assert [e.adapter_id for e in published] == ["a1", "a2"]
    stored = await store.get(PROMOTED_ADAPTER_KEY)
    assert stored is not None and AdapterEvent.model_validate_json(stored).adapter_id == "a1"


async def test_reconcile_reannounces_when_the_store_names_another_adapter(tmp_path: Path) -> None:
    store, published = MemoryStore(), Published()
    announcer = AdapterAnnouncer(store, published)
    registry = AdapterRegistry(tmp_path)
    assert await announcer.reconcile(registry) is None
    registry.record(_event("a1", True))
    assert (await announcer.reconcile(registry)).adapter_id == "a1"  # type: ignore[union-attr]
    assert await announcer.reconcile(registry) is None  # in sync now: nothing sent twice
    assert [e.adapter_id for e in published] == ["a1"]


def test_an_empty_registry_starts_with_the_bundled_adapter_and_bundle_ships_one_with_relative_paths(
    tmp_path: Path,
) -> None:
    from services.trainer.registry import BUNDLED_ENTRY, bundle_adapter, bundled_state
    from shared.events import AdapterEvent

    source = tmp_path / "adapters" / "qf-1"
    source.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter.gguf", "training_report.json"):
        (source / name).write_text(name)
    registry = AdapterRegistry(tmp_path / "adapters", bundled=False)
    formats = {"gguf": {"required": True, "exported": True, "path": str(source / "adapter.gguf")}}
    registry.record(AdapterEvent(adapter_id="qf-1", base_model="b", path=str(source), promoted=True), formats)
    shipped = tmp_path / "models"
    target = bundle_adapter(registry, "qf-1", into=shipped)
    assert (target / "adapter.gguf").read_text() == "adapter.gguf" and (target / BUNDLED_ENTRY).is_file()

    state = bundled_state(shipped)
    assert state.promotions == ["qf-1"]
    assert state.adapters["qf-1"].path == str(target.resolve())
    assert state.formats["qf-1"]["gguf"]["path"] == str(target.resolve() / "adapter.gguf")
    assert AdapterRegistry(tmp_path / "fresh", bundled=False).promoted() is None
