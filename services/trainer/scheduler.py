"""When to train, one run at a time, and what happens around a run.

A run is due when at least ``min_new_corrections`` corrections arrived since the last finished run and
that run is older than ``min_interval_hours`` — or when ``quoteflow train`` asks. A Redis lock with an
expiry (refreshed while the run lives) keeps runs one at a time across trainer replicas; a run that dies
leaves its 'pending' marker behind, and the next check after ``crash_retry_minutes`` runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from services.trainer.corrections import CorrectionStore
from services.trainer.registry import AdapterAnnouncer, AdapterRegistry, RegistryError
from services.trainer.settings import TrainerSettings
from services.trainer.training.recipe import Recipe, load_recipe
from shared.events import AdapterEvent
from shared.store import MemoryStore, Store

logger = logging.getLogger(__name__)

LOCK_KEY = "trainer:lock"
PENDING_KEY = "trainer:run:pending"
LAST_RUN_KEY = "trainer:run:last"


class RunInProgressError(RuntimeError):
    """Another training run holds the lock."""


@dataclass(frozen=True)
class ScheduleDecision:
    due: bool
    reason: str
    retry: bool = False


class RunLock:
    """A lock in the store that expires unless refreshed: a crashed holder cannot block runs forever."""

    def __init__(self, store: Store, ttl_s: int, key: str = LOCK_KEY) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.key = key
        self.token = secrets.token_hex(8)

    async def acquire(self) -> bool:
        return await self.store.set(self.key, self.token, ttl_s=self.ttl_s, only_if_absent=True)

    async def refresh(self) -> bool:
        """Extend the expiry; False when the lock is no longer ours (it expired and someone took it)."""
        if await self.store.get(self.key) != self.token.encode():
            return False
        await self.store.expire(self.key, self.ttl_s)
        return True

    async def release(self) -> None:
        if await self.store.get(self.key) == self.token.encode():
            await self.store.delete(self.key)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the lock for the block, refreshing it at a third of its expiry."""
        if not await self.acquire():
            raise RunInProgressError("another training run is in progress (the run lock is held)")

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self.ttl_s / 3)
                if not await self.refresh():
                    logger.error("training run lost its lock %s", self.key)
                    return

        task = asyncio.create_task(heartbeat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.release()


async def _read_json(store: Store, key: str) -> dict[str, Any] | None:
    raw = await store.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


async def schedule_decision(
    store: Store, settings: TrainerSettings, corrections_total: int, now: datetime | None = None
) -> ScheduleDecision:
    """Is a scheduled run due now? Crashed runs first, then the new-corrections and interval rules."""
    now = now or datetime.now(UTC)
    if await store.exists(LOCK_KEY):
        return ScheduleDecision(False, "a run is in progress")
    pending = await _read_json(store, PENDING_KEY)
    if pending is not None:
        since = datetime.fromisoformat(pending.get("updated_at") or pending["started_at"])
        wait = timedelta(minutes=settings.crash_retry_minutes)
        if now - since >= wait:
            return ScheduleDecision(True, f"retrying run {pending.get('run_id')} that did not finish", retry=True)
        return ScheduleDecision(False, f"run {pending.get('run_id')} did not finish; retry after {since + wait:%H:%M}")
    last = await _read_json(store, LAST_RUN_KEY) or {}
    new = corrections_total - int(last.get("corrections_total", 0))
    if new < settings.min_new_corrections:
        return ScheduleDecision(False, f"{new} new correction(s), {settings.min_new_corrections} needed")
    if "finished_at" in last:
        finished = datetime.fromisoformat(last["finished_at"])
        next_run = finished + timedelta(hours=settings.min_interval_hours)
        if now < next_run:
            return ScheduleDecision(False, f"{new} new correction(s) but the last run is recent; next {next_run:%c}")
    return ScheduleDecision(True, f"{new} new correction(s)")


@dataclass
class RunReport:
    """A finished run as the caller shows it."""

    event: AdapterEvent
    loss_curve: Path | None
    losses: dict[str, list[float]]
    announced: bool


class TrainingCoordinator:
    """Runs one training under the lock: data, stages, gate, registry, announcement, schedule bookkeeping."""

    def __init__(
        self,
        settings: TrainerSettings,
        store: Store,
        announcer: AdapterAnnouncer | None,
        console: Console | None = None,
        *,
        isolate: bool = False,
    ) -> None:
        """``isolate`` trains in a child process (the service: its event loop stays responsive, and a
        crash or out-of-memory kill of the training cannot take the consumer down with it)."""
        self.settings = settings
        self.isolate = isolate
        self.store = store
        self.announcer = announcer
        self.console = console or Console(stderr=True)
        self.corrections = CorrectionStore(settings.dataset_dir, store)

    def recipe(
        self, path: Path | None = None, overrides: list[str] | None = None, base_model: str | None = None
    ) -> Recipe:
        return load_recipe(
            path or self.settings.recipe, overrides=overrides, base_model=base_model or self.settings.base_model
        )

    async def check_schedule(self) -> ScheduleDecision:
        return await schedule_decision(self.store, self.settings, self.corrections.total())

    async def run(self, recipe: Recipe, trigger: str) -> RunReport:
        """Train, evaluate, record and announce one adapter. Raises RunInProgressError when locked."""
        lock = RunLock(self.store, self.settings.lock_ttl_s)
        async with lock.held():
            total = self.corrections.total()
            pending = await _read_json(self.store, PENDING_KEY) or {}
            run_id = pending.get("run_id") or lock.token
            now = datetime.now(UTC).isoformat()
            marker = {"run_id": run_id, "started_at": pending.get("started_at", now), "updated_at": now}
            await self.store.set(PENDING_KEY, json.dumps(marker | {"trigger": trigger, "corrections_total": total}))
            try:
                if self.isolate:
                    report = await _in_child_process(self.settings, recipe)
                else:
                    report = await asyncio.to_thread(self._train_blocking, recipe)
            except BaseException:
                await _mark_failed(self.store)  # the marker stays: the run is retried later
                raise
            announced = False
            if self.announcer is not None:
                await self.announcer.announce(report.event)
                announced = True
            await self.store.set(
                LAST_RUN_KEY,
                json.dumps(
                    {
                        "finished_at": datetime.now(UTC).isoformat(),
                        "adapter_id": report.event.adapter_id,
                        "promoted": report.event.promoted,
                        "corrections_total": total,
                        "trigger": trigger,
                    }
                ),
            )
            await self.store.delete(PENDING_KEY)
            report.announced = announced
            return report

    def _train_blocking(self, recipe: Recipe) -> RunReport:
        return train_blocking(self.settings, recipe, self.console)


def train_blocking(settings: TrainerSettings, recipe: Recipe, console: Console | None = None) -> RunReport:
    """Data, stages, gate and registry entry of one run (no store, no broker: runs in any process)."""
    from services.trainer.training.data import build_training_data
    from services.trainer.training.run import git_hash, run_provenance, train_and_evaluate

    registry = AdapterRegistry(settings.adapters_dir)
    data = build_training_data(
        training_sets=_synthetic_sets(settings, recipe.seed),
        corrections=CorrectionStore(settings.dataset_dir, _NO_STORE).load(),
        heldout_percent=recipe.heldout_percent,
        seed=recipe.seed,
    )
    in_service = registry.promoted()
    code_version = git_hash()
    outcome = train_and_evaluate(
        recipe=recipe,
        data=data,
        adapters_dir=settings.adapters_dir,
        cache_dir=settings.trainer_cache_dir,
        in_service=in_service,
        margin=settings.promotion_margin,
        console=console,
        data_dir=settings.data_dir,
        provenance=run_provenance(recipe, data, settings.synthetic_threads_dir, code_version),
    )
    event = outcome.to_event(recipe, in_service, code_version)
    registry.record(event, outcome.formats)
    return RunReport(
        event=event,
        loss_curve=outcome.loss_curve,
        losses={stage.name: stage.losses for stage in outcome.losses},
        announced=False,
    )


def regate_blocking(
    settings: TrainerSettings, recipe: Recipe, adapter_id: str, console: Console | None = None
) -> RunReport:
    """Export, check and gate an earlier run's adapter again on this run's data, and record the verdict."""
    from services.trainer.training.data import build_training_data
    from services.trainer.training.run import git_hash, regate_adapter

    registry = AdapterRegistry(settings.adapters_dir)
    entry = registry.load().adapters.get(adapter_id)
    if entry is None:
        raise RegistryError(f"adapter {adapter_id!r} is not in {registry.path}")
    in_service = registry.promoted()
    if in_service is not None and in_service.adapter_id == adapter_id:
        raise RegistryError(f"adapter {adapter_id!r} is in service already")
    data = build_training_data(
        training_sets=_synthetic_sets(settings, recipe.seed),
        corrections=CorrectionStore(settings.dataset_dir, _NO_STORE).load(),
        heldout_percent=recipe.heldout_percent,
        seed=recipe.seed,
    )
    outcome = regate_adapter(
        adapter_dir=Path(entry.path),
        recipe=recipe,
        data=data,
        in_service=in_service,
        margin=settings.promotion_margin,
        console=console,
    )
    event = outcome.to_event(recipe, in_service, entry.git_hash or git_hash())
    registry.record(event, outcome.formats)
    return RunReport(event=event, loss_curve=outcome.loss_curve, losses={}, announced=False)


_NO_STORE = MemoryStore()  # reading the corrections files needs no store


def _synthetic_sets(settings: TrainerSettings, seed: int) -> dict[str, Path] | None:
    """Training sets built from the synthetic threads folder, when one is configured."""
    threads_dir = settings.synthetic_threads_dir
    if threads_dir is None:
        return None
    if not threads_dir.is_dir():
        raise FileNotFoundError(f"synthetic threads folder {threads_dir} does not exist")
    from services.trainer.synth.datasets import build_training_sets

    out_dir = settings.trainer_cache_dir / "sets"
    sets: dict[str, Path] = build_training_sets(threads_dir, out_dir, seed)
    return sets


# What a child run needs to know: files and the gate, no connections (no secrets on a command line or disk).
CHILD_SETTINGS = (
    "data_dir",
    "dataset_dir",
    "adapters_dir",
    "trainer_cache_dir",
    "synthetic_threads_dir",
    "promotion_margin",
)


async def _in_child_process(settings: TrainerSettings, recipe: Recipe) -> RunReport:
    """train_blocking in a child Python process; stopping (cancelling) the run terminates the child."""
    import sys

    work = settings.trainer_cache_dir / "runs" / f"child-{secrets.token_hex(4)}"
    work.mkdir(parents=True, exist_ok=True)
    request, result = work / "request.json", work / "result.json"
    payload = {
        "settings": settings.model_dump(mode="json", include=set(CHILD_SETTINGS)),
        "recipe": recipe.model_dump(mode="json"),
    }
    request.write_text(json.dumps(payload), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.trainer.training.worker",
        str(request),
        str(result),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        code = await process.wait()
    except asyncio.CancelledError:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
        raise
    try:
        if code != 0 or not result.exists():
            raise RuntimeError(f"training process exited with code {code}")
        data = json.loads(result.read_text(encoding="utf-8"))
        return RunReport(
            event=AdapterEvent.model_validate(data["event"]),
            loss_curve=Path(data["loss_curve"]) if data["loss_curve"] else None,
            losses=data["losses"],
            announced=False,
        )
    finally:
        for path in (request, result):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            work.rmdir()


async def schedule_loop(coordinator: TrainingCoordinator, stop: asyncio.Event) -> None:
    """The service's scheduler: check every ``schedule_check_s``, run when due, never die on a failed run."""
    settings = coordinator.settings
    while not stop.is_set():
        try:
            decision = await coordinator.check_schedule()
            if decision.due:
                logger.info("training run due: %s", decision.reason)
                report = await coordinator.run(coordinator.recipe(), trigger="schedule")
                logger.info("trained %s: %s", report.event.adapter_id, report.event.reason)
            else:
                logger.debug("no training run: %s", decision.reason)
        except RunInProgressError:
            logger.info("training run skipped: another run holds the lock")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("training run failed; it is retried after %s minutes", settings.crash_retry_minutes)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.schedule_check_s)


async def _mark_failed(store: Store) -> None:
    pending = await _read_json(store, PENDING_KEY)
    if pending is not None:
        pending["updated_at"] = datetime.now(UTC).isoformat()
        pending["failures"] = int(pending.get("failures", 0)) + 1
        await store.set(PENDING_KEY, json.dumps(pending))
