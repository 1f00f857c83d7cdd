"""Builds the quote service (``quoteflow serve quote``)."""

from __future__ import annotations

from services.quote.handlers import register
from services.quote.settings import QuoteSettings
from shared.service import ServiceRuntime, build_runtime
from shared.store import Store
from shared.telemetry import Telemetry


def build_service(
    settings: QuoteSettings | None = None, *, store: Store | None = None, telemetry: Telemetry | None = None
) -> ServiceRuntime:
    settings = (settings or QuoteSettings()).model_copy(update={"service_name": "quote"})
    runtime = build_runtime("quote", settings, store=store, telemetry=telemetry)
    register(runtime, settings)
    return runtime
