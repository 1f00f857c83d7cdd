"""One trace per e-mail: W3C trace context crosses every hop from emails.raw to quotes.generated."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services import pipeline
from shared import topics
from shared.broker import build_broker
from shared.settings import Settings
from shared.telemetry import Telemetry, build_telemetry
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration


async def test_one_trace_id_across_all_four_hops(stack: Settings) -> None:
    exporter = InMemorySpanExporter()

    def telemetry_for(name: str) -> Telemetry:
        return build_telemetry(stack.model_copy(update={"service_name": name}), (SimpleSpanProcessor(exporter),))

    raw = (EXAMPLES / "single-inquiry.eml").read_bytes()
    async with pipeline.running_services(stack, names=("ingest", "extract", "quote"), telemetry_for=telemetry_for):
        client_telemetry = telemetry_for("integration")
        client = build_broker(stack.model_copy(update={"service_name": "integration"}), client_telemetry)
        await client.connect()
        try:
            await client.publish(raw, topics.EMAILS_RAW, key=b"trace-1")
        finally:
            await client.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            names = {s.name for s in exporter.get_finished_spans()}
            if f"{topics.QUOTES_GENERATED} publish" in names:
                break
            await asyncio.sleep(0.2)

    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    hops = [
        f"{topics.EMAILS_RAW} publish",
        f"{topics.EMAILS_RAW} process",
        f"{topics.THREADS_NORMALIZED} process",
        f"{topics.FACTS_EXTRACTED} process",
        f"{topics.QUOTES_GENERATED} publish",
    ]
    missing = [h for h in hops if h not in by_name]
    assert not missing, f"missing spans {missing}; have {sorted(by_name)}"
    trace_ids = {by_name[h].context.trace_id for h in hops}
    assert len(trace_ids) == 1
    services = {by_name[h].resource.attributes["service.name"] for h in hops}
    assert {"ingest", "extract", "quote"} <= services
    # No body, subject or address of the mail in any span attribute (the mail is confidential).
    private = ("minjae.lee", "hankook-enertech", "태양광", "이민재", "david.park", "5억")
    for span in spans:
        for value in (span.attributes or {}).values():
            assert not any(p in str(value) for p in private), (span.name, value)
    # Child spans of the work itself sit in the same trace.
    for child in ("ingest.normalize", "extract.engine", "quote.render"):
        assert by_name[child].context.trace_id in trace_ids
