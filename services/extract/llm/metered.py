"""Metrics and spans around every LLM request: latency, outcome, tokens, model and adapter.

Wraps any :class:`InferenceBackend`, so the engine and its tests stay unaware of it.
Span attributes follow OpenTelemetry's GenAI conventions and carry no prompt or
answer text (the mail is confidential). Token counts are the server's own (``usage`` of
llama.cpp, vLLM and the Messages API; TGI /generate's ``details`` for generated tokens), else
estimates; every request is also added to the thread's :class:`~services.extract.metrics.LlmUsage`
(per-thread histograms in extract's handler).
"""

from __future__ import annotations

import time

from opentelemetry import trace

from services.extract.llm.client import Generation, GenerationRequest, InferenceBackend, ServerInfo
from services.extract.metrics import record_llm_call
from shared.ops import Metrics


def estimated_prompt_tokens(request: GenerationRequest) -> int:
    """A rough count (no tokenizer here): about one token per 3 characters of the turns."""
    return sum(len(turn.content) for turn in request.turns) // 3


def estimated_generated_tokens(generation: Generation) -> int:
    """The same rough count for an answer whose server did not say how many tokens it took."""
    return len(generation.text) // 3


class MeteredBackend:
    """Records quoteflow_llm_* metrics and an ``llm.generate`` span per request."""

    def __init__(self, inner: InferenceBackend, metrics: Metrics, service: str, tracer: trace.Tracer) -> None:
        self.inner = inner
        self.metrics = metrics
        self.service = service
        self.tracer = tracer
        self.flavour = inner.flavour
        self.api = inner.api

    async def info(self) -> ServerInfo:
        return await self.inner.info()

    async def healthy(self) -> bool:
        return await self.inner.healthy()

    async def close(self) -> None:
        await self.inner.close()

    async def generate(self, request: GenerationRequest) -> Generation:
        model = request.adapter_id or request.base_model_id
        with self.tracer.start_as_current_span("llm.generate", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("gen_ai.system", self.flavour)
            span.set_attribute("gen_ai.request.model", request.base_model_id)
            span.set_attribute("gen_ai.request.max_tokens", request.max_new_tokens)
            span.set_attribute("quoteflow.llm.adapter_id", request.adapter_id or "")
            span.set_attribute("quoteflow.llm.api", self.api)
            started = time.perf_counter()
            try:
                generation = await self.inner.generate(request)
            except Exception as exc:
                self.metrics.llm_requests.labels(self.service, type(exc).__name__).inc()
                record_llm_call(ok=False)
                raise
            finally:
                self.metrics.llm_latency.labels(self.service).observe(time.perf_counter() - started)
            self.metrics.llm_requests.labels(self.service, "ok").inc()
            estimated = generation.prompt_tokens is None or generation.generated_tokens is None
            prompt_tokens = (
                generation.prompt_tokens if generation.prompt_tokens is not None else estimated_prompt_tokens(request)
            )
            generated_tokens = (
                generation.generated_tokens
                if generation.generated_tokens is not None
                else estimated_generated_tokens(generation)
            )
            self.metrics.llm_tokens.labels(self.service, "input").inc(prompt_tokens)
            self.metrics.llm_tokens.labels(self.service, "output").inc(generated_tokens)
            record_llm_call(
                ok=True, prompt_tokens=prompt_tokens, generated_tokens=generated_tokens, estimated=estimated
            )
            span.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", generated_tokens)
            span.set_attribute("quoteflow.llm.usage_estimated", estimated)
            span.set_attribute("gen_ai.response.model", model)
            if generation.finish_reason:
                span.set_attribute("gen_ai.response.finish_reasons", [generation.finish_reason])
            return generation
