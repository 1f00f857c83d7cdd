"""Builds the review desk (``quoteflow serve review``): a FastAPI app whose faststream KafkaRouter consumes
facts and quotes, serves the pages and publishes FactsCorrected.

The app's lifespan runs the service: topics and ops endpoints first, then the router starts the
consumers; on shutdown the router flushes committed offsets and stops them, then the store and
telemetry close. ``quoteflow serve review`` runs it under uvicorn; ``quoteflow run`` starts the same
server inside its process (:meth:`ReviewRuntime.start`) on a loopback port and prints its URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from services.review.handlers import register
from services.review.records import ReviewBook
from services.review.settings import ReviewSettings
from services.review.users import UserDirectory
from services.review.web import build_web
from shared import topics
from shared.broker import broker_options
from shared.consumer import OffsetCommitter
from shared.events import FactsCorrected
from shared.ops import build_metrics
from shared.service import ServiceRuntime
from shared.store import Store, build_store
from shared.telemetry import Telemetry, build_telemetry

with warnings.catch_warnings():  # faststream 0.7 announces the integration's move to faststream_fastapi
    warnings.simplefilter("ignore", DeprecationWarning)
    from faststream.kafka.fastapi import KafkaRouter

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ReviewRuntime(ServiceRuntime):
    """The service runtime plus the web app; started as a uvicorn server in this process by :meth:`start`."""

    web: FastAPI | None = None
    router: Any = None
    url: str | None = None
    _server: Any = None
    _serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve the desk (its lifespan starts topics, ops and consumers) and wait until it listens."""
        settings = self.settings
        assert isinstance(settings, ReviewSettings)
        sock = _bind(settings.http_host, settings.http_port, fallback=settings.http_port == 8090)
        assert self.web is not None
        config = uvicorn.Config(self.web, lifespan="on", log_level="warning", access_log=False)
        self._server = _InProcessServer(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]), name="review-http")
        while not self._server.started:
            if self._serving.done():
                await self._serving
                raise RuntimeError("the review desk did not start (see the log)")
            await asyncio.sleep(0.05)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{'127.0.0.1' if host == '0.0.0.0' else shown}:{port}/"  # noqa: S104
        logger.info("review desk on %s", self.url)

    async def stop(self) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving
            self._server = self._serving = None


class _InProcessServer(uvicorn.Server):
    """uvicorn's Server without its signal handlers: beside other services, the host process owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, *, fallback: bool) -> socket.socket:
    """A listening socket on host:port; the default port taken, any free port instead (fallback)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if not (fallback and exc.errno == errno.EADDRINUSE):
            sock.close()
            raise OSError(exc.errno, f"review desk: cannot listen on {host}:{port} ({exc.strerror})") from exc
        sock.bind((host, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def build_service(
    settings: ReviewSettings | None = None,
    *,
    store: Store | None = None,
    telemetry: Telemetry | None = None,
    users: UserDirectory | None = None,
) -> ReviewRuntime:
    """The review desk on its own runtime: ``runtime.web`` is the FastAPI app, ``runtime.broker`` its router's."""
    settings = (settings or ReviewSettings()).model_copy(update={"service_name": "review"})
    telemetry = telemetry or build_telemetry(settings)
    metrics = build_metrics("review")
    runtime: ReviewRuntime | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        assert runtime is not None
        await runtime._before_start()
        try:
            yield
        finally:
            await runtime._after_stop()

    if settings.kafka_bootstrap is None:
        raise ValueError("kafka_bootstrap is not set: start the embedded stack first")
    router = KafkaRouter(
        settings.kafka_bootstrap, schema_url=None, lifespan=lifespan, **broker_options(settings, telemetry, metrics)
    )
    runtime = ReviewRuntime(
        name="review",
        settings=settings,
        broker=router.broker,
        store=store or build_store(settings),
        telemetry=telemetry,
        metrics=metrics,
        committer=OffsetCommitter(settings.commit_interval_ms / 1000),
        router=router,
    )
    book = ReviewBook(runtime.store, settings)
    register(runtime, router, settings, book)
    publisher = router.publisher(
        topics.FACTS_CORRECTED,
        title="facts.corrected",
        description="Facts a reviewer approved (confirmed) or corrected: quote re-renders, the trainer learns.",
        schema=FactsCorrected,
    )

    async def mark_started(_app: Any) -> None:
        runtime.started = True

    async def flush(_app: Any) -> None:
        await runtime.committer.close()
        runtime.started = False

    router.after_startup(mark_started)
    router.on_broker_shutdown(flush)
    web = build_web(settings, runtime.store, book, publisher, users, metrics.registry)
    web.include_router(router)
    runtime.web = web
    return runtime


def serve_forever(runtime: ReviewRuntime) -> None:
    """Run the desk under uvicorn until SIGTERM/SIGINT (``quoteflow serve review``): a graceful stop (in-flight
    requests and records finish, offsets are committed) and exit code 0, like the other services."""
    import signal

    from shared.loop import run_async

    settings = runtime.settings
    assert isinstance(settings, ReviewSettings)
    assert runtime.web is not None
    config = uvicorn.Config(
        runtime.web,
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,  # the SSO check needs the real peer address
    )
    server = _InProcessServer(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        await server.serve()
        if not server.started:
            raise RuntimeError("the review desk did not start (see the log)")

    run_async(main())


def __getattr__(name: str) -> Any:
    """``app``: the desk's FastAPI application, built on first access from the environment, for an ASGI server
    (``uvicorn services.review.main:app``); its lifespan starts and stops the service's consumers."""
    if name != "app":
        raise AttributeError(name)
    global _APP
    if _APP is None:
        _APP = build_service().web
    return _APP


_APP: FastAPI | None = None
