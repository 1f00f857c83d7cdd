"""Per-thread LLM usage through the metered backend, over real HTTP to the TGI test server.

The server's own counts are used when it returns them (the Messages API's ``usage``; /generate's
``details.generated_tokens``), estimates otherwise; every request counts, failed and repair ones too.
"""

from __future__ import annotations

from opentelemetry import trace
from prometheus_client import generate_latest

from services.extract.llm.engine import LlmEngine
from services.extract.llm.metered import MeteredBackend
from services.extract.metrics import extract_metrics, record_llm_call, track_llm_usage
from shared.events import NormalizedThread
from shared.ops import build_metrics
from tests.services.extract.llm.conftest import answer_json, make_engine, summary_json
from tests.support.tgi_server import Reply, TgiTestServer, estimate_tokens


def metered(engine: LlmEngine) -> LlmEngine:
    engine.backend = MeteredBackend(engine.backend, build_metrics("extract"), "extract", trace.get_tracer("test"))
    return engine


async def test_server_usage_counts_are_taken_when_the_server_returns_them(talk_thread: NormalizedThread) -> None:
    async with TgiTestServer(default_text=answer_json()) as server:
        engine = metered(make_engine(server, api="chat"))
        with track_llm_usage() as usage:
            result = await engine.extract(talk_thread)
        await engine.close()
    assert result.engine == "llm", result.warnings
    requests = server.generation_requests()  # key facts, then summary and tags
    assert usage.calls == len(requests) == 2 and usage.failed_calls == 0 and not usage.estimated
    assert usage.prompt_tokens == sum(estimate_tokens(r.prompt) for r in requests)  # the server's count, not ours
    assert usage.generated_tokens == 2 * estimate_tokens(answer_json())


async def test_without_a_prompt_count_it_is_estimated_and_failed_and_repair_requests_count(
    talk_thread: NormalizedThread,
) -> None:
    async with TgiTestServer() as server:
        server.reply_with(Reply.failure("overloaded"), "{not json", answer_json(), summary_json())
        engine = metered(make_engine(server))  # /generate: generated tokens from details, no prompt count
        with track_llm_usage() as usage:
            result = await engine.extract(talk_thread)
        await engine.close()
    assert result.engine == "llm" and any(w.startswith("repaired") for w in result.warnings), result.warnings
    assert (usage.calls, usage.failed_calls) == (4, 1)  # failed, invalid, repaired facts, summary
    assert usage.estimated and usage.prompt_tokens > 0
    answers = ("{not json", answer_json(), summary_json())
    assert usage.generated_tokens == sum(estimate_tokens(a) for a in answers)


async def test_usage_belongs_to_the_block_it_was_opened_in(talk_thread: NormalizedThread) -> None:
    assert record_llm_call(ok=True, prompt_tokens=5) is None  # outside any block: nothing to add to
    async with TgiTestServer(default_text=answer_json()) as server:
        engine = metered(make_engine(server, api="chat"))
        with track_llm_usage() as first:
            await engine.extract(talk_thread)
        with track_llm_usage() as second:
            await engine.extract(talk_thread)
            with track_llm_usage() as inner:
                pass
        await engine.close()
    assert first.calls == second.calls == 2 and inner.calls == 0
    assert first.prompt_tokens == second.prompt_tokens > 0


def test_per_thread_histograms_on_the_service_registry() -> None:
    metrics = build_metrics("extract")
    own = extract_metrics(metrics.registry)
    assert extract_metrics(metrics.registry) is own  # registered once per registry
    with track_llm_usage() as usage:
        record_llm_call(ok=True, prompt_tokens=300, generated_tokens=40)
        record_llm_call(ok=False)
    own.observe_thread("extract", usage)
    text = generate_latest(metrics.registry).decode()
    assert 'quoteflow_extract_llm_calls_per_thread_sum{service="extract"} 2.0' in text
    assert 'quoteflow_extract_llm_prompt_tokens_per_thread_sum{service="extract"} 300.0' in text
    assert 'quoteflow_extract_llm_generated_tokens_per_thread_sum{service="extract"} 40.0' in text
