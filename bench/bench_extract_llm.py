"""LLM engine overhead around the model: prompt rendering, trimming, grounding, HTTP round trips, fallback.

The model itself cannot run here (no GPU, no Gemma weights), so the engine talks to the
TGI test server over real HTTP; the figures are what QuoteFlow adds on top of TGI's own
generation time. Called by ``make bench`` (``run()``); ``python -m bench extract_llm`` runs it alone.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from services.extract.llm.grounding import ground
from shared.events import KeyFacts, NormalizedThread
from shared.llm_format.prompts import build_extraction_prompt
from tests.services.extract.llm.conftest import TALK_FACTS, TALK_TEXTS, answer_json, make_engine, make_thread
from tests.support.tgi_server import Reply, TgiTestServer


def _median_ms(action: Callable[[], Any], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def _long_thread(messages: int) -> NormalizedThread:
    filler = "포장 사양, 라벨 위치, 팔레트 적재 방식을 다시 확인 부탁드립니다. Please confirm the packing list. " * 6
    texts = [TALK_TEXTS[0]] + [("buyer" if i % 2 else "supplier", f"{i}: {filler}") for i in range(messages)]
    return make_thread([*texts, *TALK_TEXTS[3:]], thread_id="t-long")


async def _throughput(threads: int, concurrency: int) -> float:
    async with TgiTestServer(default_text=answer_json()) as server:
        engine = make_engine(server, llm_max_concurrency=concurrency)
        thread = make_thread(TALK_TEXTS)
        await engine.extract(thread)  # warm the connection pool and /info cache
        started = time.perf_counter()
        await asyncio.gather(*(engine.extract(thread) for _ in range(threads)))
        elapsed = time.perf_counter() - started
        await engine.close()
    return threads / elapsed


async def _fallback_ms() -> tuple[float, float]:
    """Time to the rules answer: server failing (first thread, retries), then with the breaker open."""
    thread = make_thread(TALK_TEXTS)
    async with TgiTestServer(responder=lambda _: Reply.failure("unknown", "CUDA out of memory")) as server:
        engine = make_engine(server, llm_max_attempts=3, llm_breaker_failures=3, llm_breaker_reset_s=600)
        started = time.perf_counter()
        await engine.extract(thread)
        failing = time.perf_counter() - started
        started = time.perf_counter()
        result = await engine.extract(thread)
        open_breaker = time.perf_counter() - started
        assert result.engine == "rules"
    return failing * 1000, open_breaker * 1000


def run(quick: bool = False) -> dict[str, float | str]:
    repeat = 5 if quick else 30
    talk = make_thread(TALK_TEXTS)
    long_thread = _long_thread(40 if quick else 120)
    facts = KeyFacts.model_validate(TALK_FACTS)
    injected = KeyFacts.model_validate(json.loads(json.dumps(TALK_FACTS)) | {"budget": 0.01, "incoterm": "FOB"})
    threads = 40 if quick else 200
    failing_ms, open_ms = asyncio.run(_fallback_ms())
    return {
        "prompt_render_talk_ms": round(_median_ms(lambda: build_extraction_prompt(talk), repeat), 3),
        "prompt_trim_long_thread_ms": round(
            _median_ms(lambda: build_extraction_prompt(long_thread, budget_tokens=3000), max(3, repeat // 5)), 3
        ),
        "long_thread_messages": float(len(long_thread.messages)),
        "grounding_talk_ms": round(_median_ms(lambda: ground(facts, talk), repeat), 3),
        "grounding_with_2_drops_ms": round(_median_ms(lambda: ground(injected, talk), repeat), 3),
        "engine_threads_per_s_concurrency_1": round(asyncio.run(_throughput(threads // 2, 1)), 1),
        "engine_threads_per_s_concurrency_4": round(asyncio.run(_throughput(threads, 4)), 1),
        "fallback_server_failing_ms_3_attempts": round(failing_ms, 1),
        "fallback_breaker_open_ms": round(open_ms, 2),
        "note": "TGI test server on localhost, zero model time: QuoteFlow's own overhead per thread",
    }
