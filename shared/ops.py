"""Operations surface of a service: Prometheus metrics, /healthz, /readyz.

Per-topic message and batch counts come from faststream's KafkaPrometheusMiddleware;
QuoteFlow adds the processing time of each record by outcome (the middleware times
whole batches), dead letters, retries, consumer lag, LLM figures and the duplicates
ingest drops. Each service
has its own registry, so four services in one process still report separately.
The OpenTelemetry collector scrapes /metrics and exports OTLP (deploy/otel-collector.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

logger = logging.getLogger(__name__)


@dataclass
class Metrics:
    """The metrics a service records besides faststream's own, labelled with the service's name."""

    service: str
    registry: CollectorRegistry
    dead_letters: Counter
    retries: Counter
    processing: Histogram
    consumer_lag: Gauge
    llm_requests: Counter
    llm_latency: Histogram
    llm_tokens: Counter
    duplicates_dropped: Counter
    events_published: Counter


def build_metrics(service: str) -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        service=service,
        registry=registry,
        dead_letters=Counter(
            "quoteflow_dead_letters",
            "Messages sent to a dead-letter topic.",
            ["service", "topic", "error_class"],
            registry=registry,
        ),
        retries=Counter(
            "quoteflow_retries", "Failed attempts that will be retried.", ["service", "topic"], registry=registry
        ),
        processing=Histogram(
            "quoteflow_message_processing_seconds",
            "Time to handle one record, by outcome (ok, retry, dead_letter).",
            ["service", "topic", "outcome"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90),
        ),
        consumer_lag=Gauge(
            "quoteflow_consumer_lag",
            "Records behind the partition's high watermark.",
            ["service", "topic", "partition"],
            registry=registry,
        ),
        llm_requests=Counter(
            "quoteflow_llm_requests", "LLM requests by outcome.", ["service", "outcome"], registry=registry
        ),
        llm_latency=Histogram(
            "quoteflow_llm_latency_seconds",
            "LLM request latency.",
            ["service"],
            registry=registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
        ),
        llm_tokens=Counter(
            "quoteflow_llm_tokens", "Tokens sent and generated.", ["service", "direction"], registry=registry
        ),
        duplicates_dropped=Counter(
            "quoteflow_duplicates_dropped",
            "Messages dropped as duplicates, by reason (message_id: the same Message-ID; raw_bytes: the same bytes).",
            ["service", "reason"],
            registry=registry,
        ),
        events_published=Counter(
            "quoteflow_events_published",
            "Events this service published (acknowledged by the broker) per topic.",
            ["service", "topic"],
            registry=registry,
        ),
    )


def update_consumer_lag(broker: Any, service: str, metrics: Metrics) -> None:
    """Set the lag gauge from every subscriber's aiokafka consumer (highwater − position)."""
    consumers: list[Any] = []
    for subscriber in getattr(broker, "subscribers", []):
        consumers.extend(getattr(subscriber, "consumer_subgroup", None) or [getattr(subscriber, "consumer", None)])
    for consumer in consumers:
        if consumer is None:
            continue
        try:
            for tp in consumer.assignment():
                highwater = consumer.highwater(tp)
                position = consumer._subscription.subscription.assignment.state_value(tp)
                offset = getattr(position, "position", None) if position is not None else None
                if highwater is None or offset is None:
                    continue
                metrics.consumer_lag.labels(service, tp.topic, str(tp.partition)).set(max(0, highwater - offset))
        except Exception:
            logger.debug("consumer lag unavailable", exc_info=True)


class OpsServer:
    """A small HTTP server: /healthz (alive), /readyz (broker and store answer), /metrics."""

    def __init__(
        self,
        service: str,
        metrics: Metrics,
        readiness: Callable[[], Awaitable[bool]],
        before_scrape: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.metrics = metrics
        self.readiness = readiness
        self.before_scrape = before_scrape
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": self.service})

    async def _readyz(self, _request: web.Request) -> web.Response:
        try:
            ready = await self.readiness()
        except Exception as exc:
            return web.json_response({"status": "unavailable", "reason": type(exc).__name__}, status=503)
        status = 200 if ready else 503
        return web.json_response({"status": "ready" if ready else "starting", "service": self.service}, status=status)

    async def _metrics(self, _request: web.Request) -> web.Response:
        if self.before_scrape is not None:
            self.before_scrape()
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        logger.info("%s ops endpoints on http://%s:%d", self.service, host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
