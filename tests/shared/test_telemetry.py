"""JSON logs carry the trace id; tracer providers are per service."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.settings import Settings
from shared.telemetry import JsonLogFormatter, build_telemetry


def test_json_log_lines_carry_trace_and_span_ids() -> None:
    telemetry = build_telemetry(Settings(service_name="ingest"))
    formatter = JsonLogFormatter()
    with telemetry.tracer.start_as_current_span("work") as span:
        record = logging.LogRecord("quoteflow", logging.INFO, __file__, 1, "processed %s", ("t-1",), None)
        line = json.loads(formatter.format(record))
    assert line["msg"] == "processed t-1"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["level"] == "INFO"


def test_each_service_has_its_own_resource() -> None:
    exporter = InMemorySpanExporter()
    for name in ("ingest", "quote"):
        telemetry = build_telemetry(Settings(service_name=name), (SimpleSpanProcessor(exporter),))
        with telemetry.tracer.start_as_current_span(f"{name}.work"):
            pass
    services = {s.resource.attributes["service.name"] for s in exporter.get_finished_spans()}
    assert services == {"ingest", "quote"}
