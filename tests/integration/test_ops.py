"""Each service answers /healthz, /readyz and /metrics (Prometheus format) while it runs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services import pipeline
from shared import topics
from shared.broker import build_broker
from shared.settings import Settings
from shared.telemetry import build_telemetry
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration


async def test_ops_endpoints_report_health_readiness_and_metrics(stack: Settings) -> None:
    settings = stack.model_copy(update={"ops_port": 0})
    async with pipeline.running_services(settings, names=("ingest",)) as (ingest,):
        assert ingest.ops is not None and ingest.ops.port
        base = f"http://127.0.0.1:{ingest.ops.port}"
        client_settings = settings.model_copy(update={"service_name": "test-client"})
        telemetry = build_telemetry(client_settings)
        client = build_broker(client_settings, telemetry)
        await client.connect()
        await client.publish((EXAMPLES / "single-inquiry.eml").read_bytes(), topics.EMAILS_RAW, key=b"ops")
        await client.publish(b"\x00garbage", topics.EMAILS_RAW, key=b"ops")
        await client.stop()
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            assert (await http.get("/healthz")).json()["status"] == "ok"
            assert (await http.get("/readyz")).status_code == 200
            dead_letter = (
                'quoteflow_dead_letters_total{error_class="BadEmail",service="ingest",topic="quoteflow.emails.raw"} 1.0'
            )
            text = ""
            for _ in range(100):
                text = (await http.get("/metrics")).text
                if dead_letter in text and "quoteflow_received_processed_messages_total{" in text:
                    break
                await asyncio.sleep(0.2)
    assert dead_letter in text
    assert "quoteflow_received_processed_messages_duration_seconds" in text
    assert (
        'quoteflow_message_processing_seconds_count{outcome="dead_letter",service="ingest",'
        'topic="quoteflow.emails.raw"} 1.0'
    ) in text
    assert 'quoteflow_consumer_lag{partition="0",service="ingest",topic="quoteflow.emails.raw"}' in text
