"""The embedded llama-cpp-python server behind the LLM engine, and how it takes a newly promoted adapter.

llama-cpp-python's server reads its models and LoRA adapters from its config file once, at
start-up. A promotion (or rollback) therefore starts a *second* server with the base alias
plus the new adapter and swaps it in; nothing is restarted under a running request:

1. the adapter is looked up in the registry (``registry.json``): it must have passed the
   evaluation gate and still be on the promotion stack (promoted, not rolled back), with
   ``adapter.gguf`` in its folder. The event or store key only *names* it; a path in an
   event is never used;
2. the new server is launched from the event loop's thread (the main one: the server dies
   with it), awaited, and each adapter asked for one token; llama.cpp's own log says
   whether the LoRA loaded (:meth:`~shared.embedded_llm.EmbeddedLlm.check_adapters`);
3. the engine re-reads the server facts, which list the old and the new server's aliases
   while both run; then, in one step without an await, new requests go to the new server
   and :class:`~services.extract.adapters.AdapterState` names the new adapter;
4. requests go to a server that offers their alias: the old server keeps answering its
   requests in flight and those of threads that had read the old adapter before the swap,
   for ``llm_total_budget_s`` (the longest a thread's LLM work may take) and until none is
   in flight; then it is stopped. A rollback within that window takes the old server back.

A server that does not start, or an adapter that does not load, is stopped and the server
in service keeps answering; the same adapter file is not tried again until it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.extract.llm.client import Generation, GenerationRequest, LlamaCppBackend, ServerInfo
from services.extract.llm.resilience import LlmRejectedError
from shared.embedded import EmbeddedServerError
from shared.embedded_llm import AdapterFile, EmbeddedLlm, launch_embedded_llm

logger = logging.getLogger(__name__)

ADAPTER_GGUF = "adapter.gguf"


class AdapterRefused(ValueError):
    """The registry does not let this adapter serve (unknown, rejected by the gate, rolled back, not GGUF)."""


def registry_adapter(adapters_dir: Path, adapter_id: str, *, promoted_only: bool = True) -> AdapterFile:
    """The registry's ``adapter.gguf`` for ``adapter_id``, or :class:`AdapterRefused` saying why not.

    ``promoted_only``: it must have passed the gate and be on the promotion stack (in service,
    or below it for a rollback); otherwise any adapter the registry lists (an explicit choice).
    """
    from shared.registry import AdapterRegistry, RegistryError

    registry = AdapterRegistry(adapters_dir)
    try:
        state = registry.load()
    except RegistryError as exc:
        raise AdapterRefused(str(exc)) from exc
    entry = state.adapters.get(adapter_id)
    if entry is None:
        known = ", ".join(sorted(state.adapters)) or "no adapters"
        raise AdapterRefused(f"adapter {adapter_id!r} is not in the registry {registry.path} (it has: {known})")
    if promoted_only and not entry.promoted:
        raise AdapterRefused(f"adapter {adapter_id!r} did not pass the evaluation gate ({entry.reason or 'rejected'})")
    if promoted_only and adapter_id not in state.promotions:
        raise AdapterRefused(f"adapter {adapter_id!r} was rolled back and is not on the registry's promotion stack")
    gguf = Path(entry.path) / ADAPTER_GGUF
    if not gguf.is_file():
        raise AdapterRefused(
            f"adapter {adapter_id!r} has no {gguf} (the embedded llama.cpp server loads GGUF LoRA adapters only)"
        )
    return AdapterFile(adapter_id, gguf)


# --------------------------------------------------------------------------- the backend


@dataclass(eq=False)
class _Server:
    llm: EmbeddedLlm
    backend: LlamaCppBackend
    inflight: int = 0
    idle: asyncio.Event | None = None  # set when the last request in flight ends (while draining)


class EmbeddedBackend:
    """The engine's backend over the embedded server(s): each request goes to a server that offers its alias.

    Normally one server; during a swap the new one (standby, then current) and the old one
    (draining). Attributes the engine and the metering read (``flavour``, ``api``,
    ``base_url``, ``base_alias``) are the current server's.
    """

    flavour = "llamacpp"
    api = "completions"

    def __init__(
        self,
        llm: EmbeddedLlm,
        *,
        timeout_s: float,
        drain_s: float,
        api_key: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.drain_s = drain_s
        self.context_tokens = llm.context_tokens
        self._api_key = api_key
        self._options = dict(options or {})
        self._current = self._serve(llm)
        self._standby: list[_Server] = []
        self._draining: list[_Server] = []
        self._retiring: dict[_Server, asyncio.Task[None]] = {}
        self.swaps = 0
        self.closed = False

    def _serve(self, llm: EmbeddedLlm) -> _Server:
        backend = LlamaCppBackend(
            llm.url,
            timeout_s=self.timeout_s,
            api_key=self._api_key,
            base_alias=llm.base_alias,
            context_tokens=llm.context_tokens,
            **self._options,
        )
        return _Server(llm, backend)

    # -------------------------------------------------------------- what the engine sees

    @property
    def server(self) -> EmbeddedLlm:
        """The server in service."""
        return self._current.llm

    @property
    def servers(self) -> list[EmbeddedLlm]:
        """Every server running: in service, started for a swap, or finishing the old adapter's requests."""
        return [s.llm for s in (self._current, *self._standby, *self._draining)]

    @property
    def base_url(self) -> str:
        return self._current.backend.base_url

    @property
    def base_alias(self) -> str:
        return self._current.llm.base_alias

    async def info(self) -> ServerInfo:
        """The current server's facts; its adapters plus those of the other running servers (they answer too)."""
        info = await self._current.backend.info()
        listed = list(info.adapters or [])
        for server in (*self._standby, *self._draining):
            listed += [a for a in server.llm.aliases if a != info.model_id and a not in listed]
        info.adapters = listed
        return info

    async def healthy(self) -> bool:
        return await self._current.backend.healthy()

    async def generate(self, request: GenerationRequest) -> Generation:
        server = self._route(request.adapter_id or request.base_model_id)
        server.inflight += 1
        try:
            return await server.backend.generate(request)
        finally:
            server.inflight -= 1
            if server.inflight == 0 and server.idle is not None:
                server.idle.set()

    def _route(self, alias: str) -> _Server:
        for server in (self._current, *reversed(self._draining), *self._standby):
            if alias in server.llm.aliases:
                return server
        # Only a thread that read an adapter long before a swap (beyond drain_s) gets here.
        raise LlmRejectedError(
            f"adapter {alias!r} is no longer on the embedded server (it has: {', '.join(self._current.llm.aliases)})"
        )

    async def close(self) -> None:
        """Stop every server (the engine's ``close``)."""
        self.closed = True
        for task in list(self._retiring.values()):
            task.cancel()
        servers = [self._current, *self._standby, *self._draining]
        self._standby, self._draining = [], []
        self._retiring.clear()
        for server in servers:
            await self._stop(server)

    # -------------------------------------------------------------- swaps

    def serving(self, adapters: list[AdapterFile]) -> EmbeddedLlm | None:
        """A running server with exactly these adapters: the current one, or one still draining."""
        for server in (self._current, *reversed(self._draining)):
            if server.llm.adapters == adapters and server.llm.alive():
                return server.llm
        return None

    def add_standby(self, llm: EmbeddedLlm) -> None:
        """A started, checked server: it answers requests for its aliases, not yet the others."""
        self._standby.append(self._serve(llm))

    def promote(self, llm: EmbeddedLlm) -> None:
        """Put ``llm`` (standby, or draining) in service at once; the old one drains. No await: atomic for the loop."""
        server = next(s for s in (*self._standby, *self._draining) if s.llm is llm)
        if server in self._standby:
            self._standby.remove(server)
        else:
            self._draining.remove(server)
            task = self._retiring.pop(server, None)
            if task is not None:
                task.cancel()
        old, self._current = self._current, server
        old.idle = asyncio.Event()
        self._draining.append(old)
        self._retiring[old] = asyncio.get_running_loop().create_task(self._retire(old), name="llm-server-retire")
        self.swaps += 1

    async def discard(self, llm: EmbeddedLlm) -> None:
        """Stop a standby server that will not be put in service."""
        for server in list(self._standby):
            if server.llm is llm:
                self._standby.remove(server)
                await self._stop(server)

    async def _retire(self, server: _Server) -> None:
        """After ``drain_s`` and once nothing is in flight (at most one more request timeout): stop it."""
        await asyncio.sleep(self.drain_s)
        if server.inflight and server.idle is not None:
            server.idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.idle.wait(), self.timeout_s)
        if server in self._draining:
            self._draining.remove(server)
        self._retiring.pop(server, None)
        logger.info("embedded LLM server on %s (aliases %s) stopped after the swap", server.llm.url, server.llm.aliases)
        await self._stop(server)

    @staticmethod
    async def _stop(server: _Server) -> None:
        with contextlib.suppress(Exception):
            await server.backend.close()
        await asyncio.to_thread(server.llm.stop)


# --------------------------------------------------------------------------- the switch

Outcome = Callable[[str, float], None]


@dataclass
class _Prepared:
    backend: EmbeddedBackend
    llm: EmbeddedLlm
    adapter_id: str | None
    started: float
    switch: EmbeddedAdapterSwitch
    fresh: bool = True

    def commit(self) -> None:
        swapped = self.llm is not self.backend.server
        if swapped:
            self.backend.promote(self.llm)
        self.switch.committed(self, swapped=swapped)

    async def discard(self) -> None:
        if self.fresh:
            await self.backend.discard(self.llm)


@dataclass
class EmbeddedAdapterSwitch:
    """:class:`~services.extract.adapters.AdapterSwitch` for the embedded server: a new server per adapter."""

    backend: EmbeddedBackend
    data_dir: Path
    adapters_dir: Path
    context_tokens: int
    ready_timeout_s: float = 120.0
    refresh_info: Callable[[], Awaitable[Any]] | None = None
    on_outcome: Outcome | None = None
    clock: Callable[[], float] = time.monotonic
    last_swap_s: float | None = None
    _failed: dict[str, tuple[str, int, int]] = field(default_factory=dict, repr=False)
    _told: set[str] = field(default_factory=set, repr=False)

    async def prepare(self, adapter_id: str | None) -> _Prepared | None:
        started = self.clock()
        try:
            adapter = None if adapter_id is None else registry_adapter(self.adapters_dir, adapter_id)
        except AdapterRefused as exc:
            self._tell_once(f"not serving adapter {adapter_id}: {exc}; the adapter in service stays", "refused")
            return None
        wanted = [adapter] if adapter is not None else []
        running = self.backend.serving(wanted)
        if running is not None:  # already served, or a rollback while the old server drains
            return _Prepared(self.backend, running, adapter_id, started, self, fresh=False)
        fingerprint = _fingerprint(adapter) if adapter is not None else None
        if adapter_id is not None and self._failed.get(adapter_id) == fingerprint:
            return None  # this very file failed before: said so then
        try:
            llm = launch_embedded_llm(self.data_dir, adapters=wanted, context_tokens=self.context_tokens)
        except EmbeddedServerError as exc:
            self._failure(adapter_id, fingerprint, str(exc), started)
            return None
        try:
            await llm.wait_ready_async(self.ready_timeout_s)
            await llm.check_adapters_async(self.ready_timeout_s)
        except EmbeddedServerError as exc:
            await asyncio.to_thread(llm.stop)
            self._failure(adapter_id, fingerprint, str(exc), started)
            return None
        except BaseException:
            llm.stop()
            raise
        if self.backend.closed:
            await asyncio.to_thread(llm.stop)
            return None
        llm.started_in_s = self.clock() - started
        self.backend.add_standby(llm)
        if self.refresh_info is not None:
            try:
                await self.refresh_info()  # the engine's cached server facts now list the new alias
            except Exception as exc:
                logger.warning("could not re-read the server facts after starting the new server: %s", exc)
        return _Prepared(self.backend, llm, adapter_id, started, self)

    def remember_failure(self, adapter: AdapterFile) -> None:
        """An adapter that already failed to load (at start-up): not tried again until its file changes."""
        self._failed[adapter.alias] = _fingerprint(adapter)

    def committed(self, prepared: _Prepared, *, swapped: bool = True) -> None:
        if not swapped:  # the server in service already had it
            return
        seconds = self.clock() - prepared.started
        self.last_swap_s = seconds
        if prepared.adapter_id is not None:
            self._failed.pop(prepared.adapter_id, None)
        logger.info(
            "embedded LLM server on %s now serves %s (aliases %s): swapped in %.1f s",
            prepared.llm.url,
            prepared.adapter_id or "the base model",
            prepared.llm.aliases,
            seconds,
        )
        if self.on_outcome is not None:
            self.on_outcome("ok", seconds)

    def _failure(
        self, adapter_id: str | None, fingerprint: tuple[str, int, int] | None, reason: str, started: float
    ) -> None:
        if adapter_id is not None and fingerprint is not None:
            self._failed[adapter_id] = fingerprint
        logger.error(
            "embedded LLM server with adapter %s failed (%s); %s stays in service",
            adapter_id or "none",
            reason,
            self.backend.server.aliases[1:] or "the base model",
        )
        if self.on_outcome is not None:
            self.on_outcome("failed", self.clock() - started)

    def _tell_once(self, message: str, outcome: str) -> None:
        if message not in self._told:
            self._told.add(message)
            logger.warning("%s", message)
            if self.on_outcome is not None:
                self.on_outcome(outcome, 0.0)


def _fingerprint(adapter: AdapterFile) -> tuple[str, int, int]:
    try:
        stat = adapter.path.stat()
    except OSError:
        return (str(adapter.path), -1, -1)
    return (str(adapter.path), stat.st_size, stat.st_mtime_ns)
