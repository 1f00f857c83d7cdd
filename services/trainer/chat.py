"""A small JSON-answering chat client for the evaluation's LLM parts (judge, FineSurE, agent mode).

It speaks TGI's Messages API through ``huggingface_hub.AsyncInferenceClient`` with a JSON schema as
``response_format`` (TGI's grammar), user/assistant turns only (Gemma 2 has no system role). The endpoint
is ``QUOTEFLOW_LLM_URL``; without it :func:`configured_llm` returns None and callers say they skipped.
"""

from __future__ import annotations

import json
from typing import Any

from huggingface_hub import AsyncInferenceClient


class LlmUnavailable(Exception):
    """No endpoint configured, or it answered with something that is not the JSON asked for."""


class JsonChat:
    """Ask for one JSON object per call; retries once when the answer does not parse."""

    def __init__(self, url: str, *, timeout_s: float = 60.0, model: str | None = None, max_tokens: int = 512) -> None:
        self.url = url
        self.model = model
        self.max_tokens = max_tokens
        self.client = AsyncInferenceClient(base_url=url, timeout=timeout_s)

    async def ask(self, messages: list[dict[str, str]], schema: dict[str, Any], temperature: float = 0.0) -> Any:
        last_error = ""
        for _ in range(2):
            response = await self.client.chat_completion(  # type: ignore[call-overload]
                messages=messages,
                model=self.model,
                max_tokens=self.max_tokens,
                temperature=temperature,
                response_format={"type": "json", "value": schema},
            )
            content = response.choices[0].message.content or ""
            try:
                return json.loads(content)
            except json.JSONDecodeError as exc:
                last_error = f"not JSON: {exc}: {content[:80]!r}"
        raise LlmUnavailable(last_error)

    async def text(self, messages: list[dict[str, str]], temperature: float = 0.7) -> str:
        response = await self.client.chat_completion(
            messages=messages, model=self.model, max_tokens=self.max_tokens, temperature=temperature
        )
        return response.choices[0].message.content or ""

    async def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            await close()


def configured_llm(max_tokens: int = 512) -> JsonChat | None:
    """The endpoint from QUOTEFLOW_LLM_URL (same setting as the extract service), or None."""
    from services.extract.api import ExtractSettings

    settings = ExtractSettings()
    if not settings.llm_url:
        return None
    return JsonChat(settings.llm_url, timeout_s=max(settings.llm_timeout_s, 30.0), max_tokens=max_tokens)
