"""OpenTelemetry set-up, passed into each service rather than installed globally.

Each service gets its own TracerProvider (resource ``service.name``), so that four
services in one process still show as four services in Jaeger. Spans are exported
by OTLP/HTTP when ``QUOTEFLOW_OTLP_ENDPOINT`` is set; tests add an in-memory
exporter. Trace context crosses Kafka as W3C ``traceparent`` headers, injected and
extracted by faststream's KafkaTelemetryMiddleware (and nothing else, so that no
span is recorded twice).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import Settings


@dataclass
class Telemetry:
    """What a service needs to trace: its provider and a tracer for child spans."""

    tracer_provider: TracerProvider
    tracer: trace.Tracer

    def shutdown(self) -> None:
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()


def build_telemetry(settings: Settings, extra_processors: tuple[SpanProcessor, ...] = ()) -> Telemetry:
    """A tracer provider for ``settings.service_name``, exporting where configured."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name, "service.namespace": "quoteflow"})
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    return Telemetry(tracer_provider=provider, tracer=provider.get_tracer(f"quoteflow.{settings.service_name}"))


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line with the active trace and span id (never message bodies)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            payload["trace_id"] = format(ctx.trace_id, "032x")
            payload["span_id"] = format(ctx.span_id, "016x")
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Logging to stderr, JSON when asked; idempotent."""
    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    # aiokafka is chatty about coordinator changes at INFO.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
