"""The LLM extraction engine: LoRA-tuned Gemma 2 behind TGI (or vLLM), grounded, verified, with a rules fallback.

Public API:

- :func:`build_llm_engine` — the engine from settings (raises ``UserError`` without QUOTEFLOW_LLM_URL);
- :class:`LlmEngine` — ``await engine.extract(thread)`` → ``Extraction``; ``await engine.check_adapter()``;
- :func:`build_backend`, :class:`TgiBackend`, :class:`VllmBackend`, :class:`InferenceBackend` — the clients;
- :func:`build_extraction_prompt`, :func:`render_gemma`, :func:`chat_messages` — prompts (also for training data);
- :func:`answer_schema`, :class:`LlmAnswer`, :func:`parse_answer`, :func:`render_answer` — the output contract;
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
from services.extract.llm.prompts import (
    FewShotExample,
    Prompt,
    Turn,
    build_extraction_prompt,
    chat_messages,
    render_gemma,
)
from services.extract.llm.schema import LlmAnswer, answer_schema, parse_answer, render_answer

__all__ = [
    "FewShotExample",
    "Generation",
    "GenerationRequest",
    "Grounded",
    "InferenceBackend",
    "LlmAnswer",
    "LlmEngine",
    "Prompt",
    "ServerInfo",
    "TgiBackend",
    "Turn",
    "VllmBackend",
    "answer_schema",
    "build_backend",
    "build_extraction_prompt",
    "chat_messages",
    "compare_with_rules",
    "ground",
    "parse_answer",
    "render_answer",
    "render_gemma",
]
