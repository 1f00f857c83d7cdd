"""Each attachment is read in a worker process that can be killed: the only hard bound on time.

The readers' cooperative checks (:class:`.limits.Budget`) stop between pages and rows, but
one call into pdfminer or lxml can run for minutes on a hostile file, and Python cannot
interrupt a thread. So files go to worker processes (:mod:`.worker`: a fresh interpreter
started with ``python -m``, never a fork of ingest's threaded process), kept warm between
attachments, each with an address-space cap (a bomb that slips past the size checks hits
MemoryError, not the host). A worker that does not answer within the time limit plus
:data:`KILL_GRACE_S` is killed and replaced. Answers come back as JSON, never pickles.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from services.ingest.attachments.limits import AttachmentLimits
from services.ingest.attachments.readers import AttachedFile
from services.ingest.attachments.worker import read_frame, write_frame
from shared.events import AttachmentKind, AttachmentPart

PROJECT_ROOT = str(Path(__file__).resolve().parents[3])
"""Where ``services`` is importable from, so the worker starts the same code whatever the parent's cwd."""
KILL_GRACE_S = 1.0
"""How long past the time limit a worker may take to stop by itself and hand back what it read."""
_PASSED_ENV = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "HOME", "PYTHONDONTWRITEBYTECODE"})
MAX_IDLE = 2
"""Warm workers kept between attachments (one per core of the reference machine)."""


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        path = os.pathsep.join(p for p in (PROJECT_ROOT, os.environ.get("PYTHONPATH")) if p)
        # Only what an interpreter needs: the worker parses hostile files, so it gets none of the
        # service's secrets (SASL password, Redis URL) through its environment.
        env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV}
        env.update({"QUOTEFLOW_ATTACHMENT_MEMORY_MB": str(memory_mb), "PYTHONPATH": path})
        self.memory_mb = memory_mb
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.ingest.attachments.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    @property
    def stdin(self) -> IO[bytes]:
        assert self.process.stdin is not None
        return self.process.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class WorkerPool:
    """Warm reader processes shared by ingest's threads: one job per worker at a time."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def _acquire(self, memory_mb: int) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive() and worker.memory_mb == memory_mb:
                    return worker
                worker.kill()
        return _Worker(memory_mb)

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if worker.alive() and len(self._idle) < MAX_IDLE:
                self._idle.append(worker)
                return
        worker.kill()

    def warm(self, memory_mb: int) -> None:
        """Start a worker ahead of the first attachment: its interpreter and imports take about half a second,
        which the first mail with an attachment would otherwise wait for."""
        with contextlib.suppress(OSError):  # the first read tries again and reports it
            self._release(_Worker(memory_mb))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()

    def read(self, file: AttachedFile, kind: AttachmentKind, limits: AttachmentLimits) -> AttachmentPart:
        failed = AttachmentPart(filename=file.filename, content_type=file.content_type, kind=kind)
        try:
            worker = self._acquire(limits.memory_mb)
        except OSError as exc:
            failed.warnings.append(f"not read: the reader process could not start ({exc})")
            return failed
        job = pickle.dumps((file, kind, limits))
        # Written from a thread: a job larger than the pipe buffer blocks until the worker reads it, and that
        # time counts against the limit too (a worker stuck before reading is killed like one stuck after).
        writer = threading.Thread(target=_send, args=(worker, job), daemon=True)
        try:
            writer.start()
            ready, _, _ = select.select([worker.stdout], [], [], limits.timeout_s + KILL_GRACE_S)
            if not ready:
                worker.kill()
                failed.warnings.append(
                    f"not read: still busy after {limits.timeout_s:g} s (QUOTEFLOW_ATTACHMENT_TIMEOUT_S), reader killed"
                )
                return failed
            frame = read_frame(worker.stdout)
        except (OSError, ValueError) as exc:
            worker.kill()
            failed.warnings.append(f"not read: the reader process failed ({type(exc).__name__})")
            return failed
        finally:
            writer.join(5)
        if frame is None:
            worker.kill()
            failed.warnings.append(f"not read: the reader process died (exit code {worker.process.returncode})")
            return failed
        answer = json.loads(frame)
        if answer.get("memory"):
            worker.kill()
            failed.warnings.append(
                f"not read: more than {limits.memory_mb} MiB needed (QUOTEFLOW_ATTACHMENT_MEMORY_MB)"
            )
            return failed
        self._release(worker)
        return AttachmentPart.model_validate(answer)


def _send(worker: _Worker, job: bytes) -> None:
    with contextlib.suppress(OSError, ValueError):  # the worker died or was killed: the reader side reports it
        write_frame(worker.stdin, job)


POOL = WorkerPool()
atexit.register(POOL.close)


def read_isolated(file: AttachedFile, kind: AttachmentKind, limits: AttachmentLimits) -> AttachmentPart:
    """:func:`.readers.read_file` in a killable worker process with a memory cap."""
    return POOL.read(file, kind, limits)
