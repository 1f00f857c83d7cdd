"""Extract options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import Settings


class ExtractSettings(Settings):
    """Which engine answers, and how the LLM is reached."""

    service_name: str = "extract"
    engine: Literal["rules", "llm"] = Field(default="rules", description="Extraction engine: rules or llm.")
    llm_url: str | None = Field(default=None, description="TGI (or vLLM) endpoint, e.g. http://tgi:80.")
    llm_flavour: Literal["tgi", "vllm"] = Field(default="tgi", description="Inference server type.")
    llm_adapter_id: str | None = Field(default=None, description="LoRA adapter to use until the registry names one.")
    llm_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one LLM request.")
    llm_max_concurrency: int = Field(default=4, ge=1, description="Concurrent LLM requests per worker.")
