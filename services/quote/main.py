"""Builds the quote service (``quoteflow serve quote``)."""

from __future__ import annotations

from services.quote.handlers import local_today, register
from services.quote.settings import QuoteSettings
from shared.service import ServiceRuntime, build_runtime, module_app
from shared.store import Store
from shared.telemetry import Telemetry


def build_service(
    settings: QuoteSettings | None = None, *, store: Store | None = None, telemetry: Telemetry | None = None
) -> ServiceRuntime:
    """The quote service on its own runtime; issue dates follow QUOTEFLOW_TIMEZONE (default Asia/Seoul)."""
    settings = (settings or QuoteSettings()).model_copy(update={"service_name": "quote"})
    runtime = build_runtime("quote", settings, store=store, telemetry=telemetry)
    register(runtime, settings, today=local_today(settings.timezone))
    return runtime


# `app`, a FastStream application built on first access: `faststream run services.quote.main:app`.
__getattr__ = module_app(build_service)
