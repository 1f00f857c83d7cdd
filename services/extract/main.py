"""Builds the extract service (``quoteflow serve extract``)."""

from __future__ import annotations

from services.extract.engine import ExtractionEngine
from services.extract.handlers import register
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from shared.service import ServiceRuntime, build_runtime
from shared.store import Store
from shared.telemetry import Telemetry


def build_engine(settings: ExtractSettings) -> ExtractionEngine:
    """The configured engine; the LLM engine needs QUOTEFLOW_LLM_URL."""
    if settings.engine == "llm":
        raise ValueError("the llm engine is not available yet: set QUOTEFLOW_ENGINE=rules")
    return RulesEngine()


def build_service(
    settings: ExtractSettings | None = None,
    *,
    store: Store | None = None,
    telemetry: Telemetry | None = None,
    engine: ExtractionEngine | None = None,
) -> ServiceRuntime:
    settings = (settings or ExtractSettings()).model_copy(update={"service_name": "extract"})
    runtime = build_runtime("extract", settings, store=store, telemetry=telemetry)
    register(runtime, settings, engine or build_engine(settings))
    return runtime
