"""Builds the ingest service (``quoteflow serve ingest``)."""

from __future__ import annotations

from services.ingest.handlers import register
from services.ingest.settings import IngestSettings
from shared.service import ServiceRuntime, build_runtime, module_app
from shared.store import Store
from shared.telemetry import Telemetry


def build_service(
    settings: IngestSettings | None = None, *, store: Store | None = None, telemetry: Telemetry | None = None
) -> ServiceRuntime:
    settings = (settings or IngestSettings()).model_copy(update={"service_name": "ingest"})
    runtime = build_runtime("ingest", settings, store=store, telemetry=telemetry)
    register(runtime, settings)
    return runtime


# `app`, a FastStream application built on first access: `faststream run services.ingest.main:app`.
__getattr__ = module_app(build_service)
