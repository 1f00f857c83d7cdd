"""Builds the trainer service (``quoteflow serve trainer``): corrections consumer plus training scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from faststream import FastStream

from services.trainer.handlers import register
from services.trainer.registry import AdapterAnnouncer, AdapterRegistry
from services.trainer.scheduler import TrainingCoordinator, schedule_loop
from services.trainer.settings import TrainerSettings
from shared.service import ServiceRuntime, build_runtime, module_app
from shared.store import Store
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainerRuntime(ServiceRuntime):
    """The service runtime plus the scheduler task that starts with it and stops before it."""

    coordinator: TrainingCoordinator | None = None
    announcer: AdapterAnnouncer | None = None
    _stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    _scheduler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        await self.start_scheduler()

    def app(self) -> FastStream:
        application = super().app()
        application.after_startup(self.start_scheduler)
        return application

    async def start_scheduler(self) -> None:
        """Re-announce the adapter in service if the store lost it, then check the schedule in the background."""
        if self.announcer is not None:
            trainer_settings = self.settings
            assert isinstance(trainer_settings, TrainerSettings)
            try:
                await self.announcer.reconcile(AdapterRegistry(trainer_settings.adapters_dir))
            except Exception:
                logger.exception("could not re-announce the adapter in service")
        if self.coordinator is None or self._scheduler is not None:
            return
        assert isinstance(self.settings, TrainerSettings)
        if self.settings.schedule_enabled:
            self._stop.clear()
            self._scheduler = asyncio.create_task(schedule_loop(self.coordinator, self._stop), name="trainer-schedule")

    async def stop_scheduler(self) -> None:
        self._stop.set()
        task, self._scheduler = self._scheduler, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def build_service(
    settings: TrainerSettings | None = None, *, store: Store | None = None, telemetry: Telemetry | None = None
) -> TrainerRuntime:
    settings = (settings or TrainerSettings()).model_copy(update={"service_name": "trainer"})
    base = build_runtime("trainer", settings, store=store, telemetry=telemetry)
    runtime = TrainerRuntime(**{f.name: getattr(base, f.name) for f in dataclasses.fields(ServiceRuntime) if f.init})
    runtime.announcer = register(runtime, settings)
    runtime.coordinator = TrainingCoordinator(
        settings, runtime.store, runtime.announcer, isolate=settings.train_in_subprocess
    )
    runtime.on_stop.insert(0, runtime.stop_scheduler)
    return runtime


# `app`, a FastStream application built on first access: `faststream run services.trainer.main:app`.
__getattr__ = module_app(build_service)
