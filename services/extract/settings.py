"""Extract options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings import Settings

# Defaults for the llamacpp flavour (a CPU, one generation at a time), unless set explicitly.
CPU_DEFAULTS: dict[str, float | int] = {
    "llm_timeout_s": 120.0,
    "llm_max_concurrency": 1,
    "llm_max_new_tokens": 768,
    "llm_total_budget_s": 140.0,
}


class ExtractSettings(Settings):
    """Which engine answers, and how the LLM is reached."""

    service_name: str = "extract"
    engine: Literal["rules", "llm", "hybrid"] = Field(
        default="rules",
        description="Extraction engine: rules (milliseconds, the default), llm, or hybrid (rules completed by "
        "grounded llm values, disagreements flagged for review).",
    )
    llm_url: str | None = Field(
        default=None,
        description="TGI, vLLM or llama-cpp-python endpoint, e.g. http://tgi:80. Unset with engine llm: "
        "start the embedded llama-cpp-python server (Gemma 3 270M on CPU, the llm extra).",
    )
    llm_flavour: Literal["tgi", "vllm", "llamacpp"] = Field(
        default="tgi",
        description="Inference server type: tgi, vllm or llamacpp (llama-cpp-python's server). "
        "Unset and no llm_url: llamacpp.",
    )
    llm_context_tokens: int = Field(
        default=4096,
        ge=512,
        description="Context size (n_ctx) of a llamacpp server: the embedded one is started with it, "
        "and prompts are trimmed to fit it.",
    )
    llm_api: Literal["generate", "chat"] = Field(
        default="generate",
        description="TGI route: /generate (raw Gemma prompt, adapter_id) or the Messages API "
        "(/v1/chat/completions, adapter as model). vLLM always uses the Messages API.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="Bearer token of the inference server (vLLM --api-key), if it needs one."
    )
    llm_adapter_id: str | None = Field(default=None, description="LoRA adapter to use until the registry names one.")
    llm_adapter: str | None = Field(
        default=None,
        description="Pin the adapter instead of following promotions: none for the base model, or an adapter "
        "id the registry lists (refused otherwise). Unset: the promoted adapter.",
    )
    llm_lora_adapters: list[str] | None = Field(
        default=None,
        description="Adapter ids the server was started with (TGI's LORA_ADAPTERS), for servers whose "
        "/info does not list them; used to refuse an adapter the server would silently ignore.",
    )
    llm_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one LLM request (llamacpp: 120).")
    llm_max_concurrency: int = Field(default=4, ge=1, description="Concurrent LLM requests per worker (llamacpp: 1).")
    llm_max_attempts: int = Field(default=3, ge=1, description="Attempts per request on 429, 5xx and timeouts.")
    llm_backoff_s: float = Field(default=0.5, ge=0, description="First retry delay (full jitter, doubling).")
    llm_backoff_max_s: float = Field(default=8.0, ge=0, description="Longest retry delay.")
    llm_total_budget_s: float = Field(
        default=90.0,
        gt=0,
        description="Wall-clock budget of one thread's LLM work (queueing, retries, repair); past it the "
        "rules engine answers. Must stay far below kafka_max_poll_interval_ms (llamacpp: 140).",
    )
    llm_breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failed requests that open the circuit breaker."
    )
    llm_breaker_reset_s: float = Field(
        default=30.0, gt=0, description="How long the breaker stays open before one trial request."
    )
    llm_max_new_tokens: int = Field(
        default=1024, ge=16, description="Tokens the model may generate per answer (llamacpp: 768)."
    )
    llm_prompt_mode: Literal["auto", "zero_shot", "few_shot"] = Field(
        default="auto",
        description="auto: zero-shot with a tuned adapter (it was trained on zero-shot prompts), "
        "few-shot from the correction store with the base model.",
    )
    llm_fewshot_k: int = Field(default=2, ge=0, le=8, description="Few-shot examples per prompt.")
    llm_info_ttl_s: float = Field(
        default=300.0, gt=0, description="How long server facts (/info: limits, adapters) are trusted."
    )
    llm_adapter_refresh_s: float = Field(
        default=30.0,
        gt=0,
        description="Re-read the promoted adapter from the store this often (in the background too): "
        "a promotion whose event a worker missed still lands within it.",
    )

    @model_validator(mode="after")
    def _embedded_llamacpp_when_no_url(self) -> ExtractSettings:
        """No server named and no flavour chosen: the embedded llama-cpp-python server, with CPU-sized defaults.

        A CPU generates tens of tokens per second, one request at a time: defaults sized for a
        GPU server (30 s per request, 4 at once) would time out. Values set explicitly stay.
        """
        if self.llm_url is None and "llm_flavour" not in self.model_fields_set:
            self.llm_flavour = "llamacpp"
        if self.llm_flavour == "llamacpp":
            for name, value in CPU_DEFAULTS.items():
                if name not in self.model_fields_set:
                    if name == "llm_total_budget_s":
                        value = min(value, self.kafka_max_poll_interval_ms / 1000 / 2)
                    setattr(self, name, value)
        return self

    def records_per_batch(self) -> int:
        """Extractions per fetched batch: rules take milliseconds; LLM extractions (in order within a partition,
        a whole batch possibly in one) must all finish inside max.poll.interval.ms even at full budget.

        The subscriber still fetches up to consumer_batch_max records, so that a burst of versions of one
        thread lands in one batch and only the newest is extracted; past this many extractions the rest
        of a partition is fetched again later (services/extract/burst.py)."""
        if self.engine == "rules":
            return self.consumer_batch_max
        poll_s = self.kafka_max_poll_interval_ms / 1000
        return max(1, min(self.consumer_batch_max, int(poll_s // self.llm_total_budget_s) - 1))

    @model_validator(mode="after")
    def _budget_below_poll_interval(self) -> ExtractSettings:
        """A handler that outlives max.poll.interval.ms gets its partitions revoked: keep LLM work well inside it."""
        limit_s = self.kafka_max_poll_interval_ms / 1000 / 2
        if self.llm_total_budget_s > limit_s:
            raise ValueError(
                f"llm_total_budget_s={self.llm_total_budget_s} must be at most half of "
                f"kafka_max_poll_interval_ms ({limit_s:.0f} s)"
            )
        return self
