"""Builds the trainer service (``quoteflow serve trainer``)."""

from __future__ import annotations

from services.trainer.handlers import register
from services.trainer.settings import TrainerSettings
from shared.service import ServiceRuntime, build_runtime
from shared.store import Store
from shared.telemetry import Telemetry


def build_service(
    settings: TrainerSettings | None = None, *, store: Store | None = None, telemetry: Telemetry | None = None
) -> ServiceRuntime:
    settings = (settings or TrainerSettings()).model_copy(update={"service_name": "trainer"})
    runtime = build_runtime("trainer", settings, store=store, telemetry=telemetry)
    register(runtime, settings)
    return runtime
