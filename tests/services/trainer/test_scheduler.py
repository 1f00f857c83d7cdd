"""When runs happen: enough new corrections and an old enough last run, one at a time, crashed runs retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.trainer.registry import AdapterAnnouncer
from services.trainer.scheduler import (
    LAST_RUN_KEY,
    LOCK_KEY,
    PENDING_KEY,
    RunInProgressError,
    RunLock,
    RunReport,
    TrainingCoordinator,
    schedule_decision,
)
from services.trainer.settings import TrainerSettings
from services.trainer.training.recipe import RECIPES_DIR, load_recipe
from shared.events import AdapterEvent
from shared.store import MemoryStore

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _settings(tmp_path: Path, **update: object) -> TrainerSettings:
    values: dict[str, object] = {
        "dataset_dir": tmp_path / "dataset",
        "adapters_dir": tmp_path / "adapters",
        "trainer_cache_dir": tmp_path / "cache",
        "min_new_corrections": 5,
        "min_interval_hours": 24,
        "crash_retry_minutes": 30,
    }
    return TrainerSettings().model_copy(update=values | update)


async def test_a_run_needs_enough_new_corrections(tmp_path: Path) -> None:
    store, settings = MemoryStore(), _settings(tmp_path)
    decision = await schedule_decision(store, settings, corrections_total=4, now=NOW)
    assert not decision.due and "4 new correction(s), 5 needed" in decision.reason
    assert (await schedule_decision(store, settings, corrections_total=5, now=NOW)).due


async def test_corrections_are_counted_since_the_last_run_and_the_interval_applies(tmp_path: Path) -> None:
    store, settings = MemoryStore(), _settings(tmp_path)
    last = {"finished_at": (NOW - timedelta(hours=2)).isoformat(), "corrections_total": 10}
    await store.set(LAST_RUN_KEY, json.dumps(last))
    assert not (await schedule_decision(store, settings, 14, now=NOW)).due
    recent = await schedule_decision(store, settings, 15, now=NOW)
    assert not recent.due and "recent" in recent.reason
    assert (await schedule_decision(store, settings, 15, now=NOW + timedelta(hours=22))).due


async def test_no_run_while_the_lock_is_held(tmp_path: Path) -> None:
    store, settings = MemoryStore(), _settings(tmp_path)
    await store.set(LOCK_KEY, "someone")
    decision = await schedule_decision(store, settings, 100, now=NOW)
    assert not decision.due and "in progress" in decision.reason


async def test_a_crashed_run_is_retried_after_the_retry_delay(tmp_path: Path) -> None:
    store, settings = MemoryStore(), _settings(tmp_path)
    pending = {"run_id": "r1", "started_at": NOW.isoformat(), "updated_at": NOW.isoformat()}
    await store.set(PENDING_KEY, json.dumps(pending))
    waiting = await schedule_decision(store, settings, 0, now=NOW + timedelta(minutes=10))
    assert not waiting.due and "did not finish" in waiting.reason
    retry = await schedule_decision(store, settings, 0, now=NOW + timedelta(minutes=30))
    assert retry.due and retry.retry and "r1" in retry.reason


async def test_run_lock_is_exclusive_owned_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("shared.store.time.monotonic", lambda: clock[0])
    store = MemoryStore()
    first, second = RunLock(store, ttl_s=60), RunLock(store, ttl_s=60)
    assert await first.acquire()
    assert not await second.acquire()
    await second.release()  # not the owner: nothing happens
    assert await store.exists(LOCK_KEY)
    clock[0] += 45
    assert await first.refresh()  # a live run keeps its lock
    clock[0] += 45
    assert not await second.acquire()
    clock[0] += 61  # the holder died: the lock expires
    assert await second.acquire()
    assert not await first.refresh()


class Published(list[AdapterEvent]):
    async def __call__(self, event: AdapterEvent) -> None:
        self.append(event)


def _report() -> RunReport:
    event = AdapterEvent(adapter_id="qf-1", base_model="b", path="/a/qf-1", promoted=True, reason="ok")
    return RunReport(event=event, loss_curve=None, losses={}, announced=False)


async def test_failed_run_keeps_its_marker_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, published = MemoryStore(), Published()
    coordinator = TrainingCoordinator(_settings(tmp_path), store, AdapterAnnouncer(store, published))
    recipe = load_recipe(RECIPES_DIR / "tiny-cpu.yaml")

    def crash(_recipe: object) -> RunReport:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(coordinator, "_train_blocking", crash)
    with pytest.raises(RuntimeError, match="out of memory"):
        await coordinator.run(recipe, trigger="schedule")
    pending = json.loads((await store.get(PENDING_KEY)) or b"{}")
    assert pending["failures"] == 1 and pending["trigger"] == "schedule"
    assert not await store.exists(LOCK_KEY)
    assert published == []

    monkeypatch.setattr(coordinator, "_train_blocking", lambda _recipe: _report())
    report = await coordinator.run(recipe, trigger="schedule")
    assert report.announced and [e.adapter_id for e in published] == ["qf-1"]
    assert not await store.exists(PENDING_KEY) and not await store.exists(LOCK_KEY)
    last = json.loads((await store.get(LAST_RUN_KEY)) or b"{}")
    assert last["adapter_id"] == "qf-1" and last["corrections_total"] == 0


async def test_a_second_run_is_refused_while_one_holds_the_lock(tmp_path: Path) -> None:
    store = MemoryStore()
    coordinator = TrainingCoordinator(_settings(tmp_path), store, None)
    await store.set(LOCK_KEY, "another-run")
    with pytest.raises(RunInProgressError):
        await coordinator.run(load_recipe(RECIPES_DIR / "tiny-cpu.yaml"), trigger="cli")


async def test_a_child_run_that_fails_is_an_error_in_the_service(tmp_path: Path) -> None:
    from services.trainer.scheduler import _in_child_process

    recipe = load_recipe(RECIPES_DIR / "tiny-cpu.yaml", base_model=str(tmp_path / "no-such-model"))
    settings = _settings(tmp_path)
    (settings.dataset_dir).mkdir(parents=True)
    with pytest.raises(RuntimeError, match="training process exited with code 1"):
        await _in_child_process(settings, recipe)
    assert not list((settings.trainer_cache_dir / "runs").glob("child-*/request.json"))
