"""The LLM extraction engine: LoRA-tuned Gemma behind TGI, vLLM or llama.cpp, grounded, verified, with a rules fallback.

Public API:

- :func:`build_llm_engine` — the engine from settings (raises ``UserError`` without QUOTEFLOW_LLM_URL);
- :class:`LlmEngine` — ``await engine.extract(thread)`` → ``Extraction``; ``await engine.check_adapter()``;
- :func:`build_backend`, :class:`TgiBackend`, :class:`VllmBackend`, :class:`InferenceBackend` — the clients;
- prompts and answers are :mod:`shared.llm_format` (one format for serving and training);
- :func:`ground` — grounding of key facts in a thread.
"""

from __future__ import annotations

from services.extract.llm.client import (
    Generation,
    GenerationRequest,
    InferenceBackend,
    ServerInfo,
    TgiBackend,
    VllmBackend,
    build_backend,
)
from services.extract.llm.engine import LlmEngine, compare_with_rules
from services.extract.llm.grounding import Grounded, ground

__all__ = [
    "Generation",
    "GenerationRequest",
    "Grounded",
    "InferenceBackend",
    "LlmEngine",
    "ServerInfo",
    "TgiBackend",
    "VllmBackend",
    "build_backend",
    "compare_with_rules",
    "ground",
]
