"""Clients for the inference server: TGI (/generate or its Messages API) and vLLM's OpenAI-compatible server.

Both go through ``huggingface_hub.AsyncInferenceClient``; what differs is where the
adapter and the schema go:

- TGI /generate: the Gemma-formatted prompt, ``adapter_id`` and
  ``grammar={"type": "json", "value": schema}``.
- TGI Messages API: chat messages, the adapter as ``model``, the schema as
  ``response_format={"type": "json", "value": schema}``.
- vLLM: chat messages, the LoRA module name (``--lora-modules name=path``) as ``model``,
  the schema as ``structured_outputs={"json": schema}``.

``model`` is never left to the client's default ``"dummy"``: without an adapter it is the
served base model's id. Errors become :class:`LlmTransientError` (429, 5xx, 424,
timeouts, connection) or :class:`LlmRejectedError` (other 4xx).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from huggingface_hub import AsyncInferenceClient
from huggingface_hub.errors import HfHubHTTPError, TextGenerationError

from services.extract.llm.prompts import Turn, chat_messages, render_gemma
from services.extract.llm.resilience import LlmError, LlmRejectedError, LlmTransientError

TRANSIENT_STATUSES = frozenset({408, 424, 425, 429, 500, 502, 503, 504})
GEMMA_STOP = "<end_of_turn>"


@dataclass
class ServerInfo:
    """What the server says about itself; ``adapters`` is None when it does not list them."""

    model_id: str
    max_input_tokens: int
    max_total_tokens: int
    adapters: list[str] | None = None
    version: str | None = None


@dataclass
class GenerationRequest:
    """One constrained generation: the turns, the schema, the adapter (None: base model)."""

    turns: list[Turn]
    schema: dict[str, Any]
    adapter_id: str | None
    base_model_id: str
    max_new_tokens: int
    timeout_s: float


@dataclass
class Generation:
    """The model's text and how it ended (``length`` means cut off by max_new_tokens)."""

    text: str
    finish_reason: str | None = None
    generated_tokens: int | None = None


class InferenceBackend(Protocol):
    """The calls the LLM engine makes; the real clients below, test doubles in tests."""

    flavour: str
    api: str

    async def info(self) -> ServerInfo: ...

    async def healthy(self) -> bool: ...

    async def generate(self, request: GenerationRequest) -> Generation: ...

    async def close(self) -> None: ...


def _status_of(exc: BaseException) -> tuple[int | None, httpx.Response | None]:
    for candidate in (exc, exc.__cause__):
        response = getattr(candidate, "response", None)
        if isinstance(response, httpx.Response):
            return response.status_code, response
    return None, None


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _server_message(exc: BaseException, response: httpx.Response | None) -> str:
    """TGI's ``{"error", "error_type"}`` body when there is one, the exception text otherwise."""
    if response is not None:
        try:
            body = response.json()
        except (ValueError, httpx.ResponseNotRead):
            body = None
        if isinstance(body, dict) and body.get("error"):
            kind = f" ({body['error_type']})" if body.get("error_type") else ""
            return f"{body['error']}{kind}"
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def translate_error(exc: BaseException, url: str, timeout_s: float) -> LlmError:
    """Map client exceptions to the engine's two kinds of failure."""
    if isinstance(exc, LlmError):
        return exc
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return LlmTransientError(f"{url} timed out after {timeout_s:g} s")
    if isinstance(exc, HfHubHTTPError | TextGenerationError | httpx.HTTPStatusError):
        status, response = _status_of(exc)
        message = _server_message(exc, response)
        if status is None or status in TRANSIENT_STATUSES or status >= 500:
            return LlmTransientError(
                f"{url} answered {status}: {message}", status=status, retry_after_s=_retry_after(response)
            )
        return LlmRejectedError(f"{url} answered {status}: {message}", status=status)
    if isinstance(exc, httpx.TransportError | ConnectionError | OSError):
        return LlmTransientError(f"cannot reach {url}: {type(exc).__name__}: {exc}")
    return LlmRejectedError(f"unexpected answer from {url}: {type(exc).__name__}: {exc}")


class _LoopBoundClient:
    """One AsyncInferenceClient per event loop: its httpx pool belongs to the loop that opened it.

    `quoteflow extract` runs one ``asyncio.run`` per file; a client reused across loops
    would fail with 'Event loop is closed'.
    """

    def __init__(self, base_url: str, timeout_s: float, api_key: str | None) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        # An explicit key stops huggingface_hub from sending the user's own HF token to this server.
        self._api_key = api_key or "unused"
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, AsyncInferenceClient]] = {}

    def get(self) -> AsyncInferenceClient:
        loop = asyncio.get_running_loop()
        for key, (owner, _client) in list(self._clients.items()):
            if owner.is_closed():
                del self._clients[key]
        entry = self._clients.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = (
                loop,
                AsyncInferenceClient(
                    model=self.base_url, provider="hf-inference", timeout=self.timeout_s, api_key=self._api_key
                ),
            )
            self._clients[id(loop)] = entry
        return entry[1]

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(id(loop), None)
        if entry is not None:
            await entry[1].close()


def normalise_base_url(url: str) -> str:
    """``http://host:8000/v1/`` and ``http://host:8000`` name the same server."""
    base = url.strip().rstrip("/")
    for suffix in ("/v1/chat/completions", "/generate", "/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


class TgiBackend:
    """TGI through /generate (default) or its Messages API."""

    flavour = "tgi"

    def __init__(self, url: str, *, timeout_s: float, api: str = "generate", api_key: str | None = None) -> None:
        self.base_url = normalise_base_url(url)
        self.api = api
        self._client = _LoopBoundClient(self.base_url, timeout_s, api_key)

    async def info(self) -> ServerInfo:
        try:
            data = await self._client.get().get_endpoint_info()
        except Exception as exc:
            raise translate_error(exc, f"{self.base_url}/info", self._client.timeout_s) from exc
        return parse_tgi_info(data)

    async def healthy(self) -> bool:
        try:
            return bool(await self._client.get().health_check())
        except Exception:
            return False

    async def generate(self, request: GenerationRequest) -> Generation:
        client = self._client.get()
        grammar: Any = {"type": "json", "value": request.schema}
        messages: Any = chat_messages(request.turns)
        url = f"{self.base_url}/generate" if self.api == "generate" else f"{self.base_url}/v1/chat/completions"
        try:
            async with asyncio.timeout(request.timeout_s):
                if self.api == "generate":
                    output = await client.text_generation(
                        render_gemma(request.turns),
                        model=url,
                        adapter_id=request.adapter_id,
                        grammar=grammar,
                        max_new_tokens=request.max_new_tokens,
                        do_sample=False,
                        stop=[GEMMA_STOP],
                        details=True,
                        return_full_text=False,
                    )
                    details = output.details
                    return Generation(
                        text=output.generated_text,
                        finish_reason=str(details.finish_reason) if details else None,
                        generated_tokens=details.generated_tokens if details else None,
                    )
                chat = await client.chat_completion(
                    messages,
                    model=request.adapter_id or request.base_model_id,
                    response_format=grammar,
                    max_tokens=request.max_new_tokens,
                    temperature=0.0,
                )
        except Exception as exc:
            raise translate_error(exc, url, request.timeout_s) from exc
        return _chat_generation(chat)

    async def close(self) -> None:
        await self._client.close()


class VllmBackend:
    """vLLM's OpenAI-compatible server, LoRA modules addressed by name."""

    flavour = "vllm"
    api = "chat"

    def __init__(self, url: str, *, timeout_s: float, api_key: str | None = None) -> None:
        self.base_url = normalise_base_url(url)
        self._client = _LoopBoundClient(self.base_url, timeout_s, api_key)
        self._api_key = api_key

    async def info(self) -> ServerInfo:
        """From /v1/models: the base model (no ``parent``) and the LoRA modules (``parent`` set)."""
        url = f"{self.base_url}/v1/models"
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with httpx.AsyncClient(timeout=self._client.timeout_s) as http:
                response = await http.get(url, headers=headers)
                response.raise_for_status()
                data = response.json()
        except Exception as exc:
            raise translate_error(exc, url, self._client.timeout_s) from exc
        return parse_vllm_models(data)

    async def healthy(self) -> bool:
        try:
            return bool(await self._client.get().health_check())
        except Exception:
            return False

    async def generate(self, request: GenerationRequest) -> Generation:
        url = f"{self.base_url}/v1/chat/completions"
        try:
            async with asyncio.timeout(request.timeout_s):
                messages: Any = chat_messages(request.turns)
                chat = await self._client.get().chat_completion(
                    messages,
                    model=request.adapter_id or request.base_model_id,
                    max_tokens=request.max_new_tokens,
                    temperature=0.0,
                    extra_body={"structured_outputs": {"json": request.schema}},
                )
        except Exception as exc:
            raise translate_error(exc, url, request.timeout_s) from exc
        return _chat_generation(chat)

    async def close(self) -> None:
        await self._client.close()


def _chat_generation(chat: Any) -> Generation:
    if not chat.choices:
        raise LlmTransientError("the server returned no choices")
    choice = chat.choices[0]
    usage = getattr(chat, "usage", None)
    return Generation(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason,
        generated_tokens=getattr(usage, "completion_tokens", None) if usage else None,
    )


def _adapter_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [part.split("=", 1)[0].strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        names = []
        for entry in value:
            if isinstance(entry, str):
                names.append(entry.split("=", 1)[0])
            elif isinstance(entry, dict) and isinstance(entry.get("id") or entry.get("name"), str):
                names.append(str(entry.get("id") or entry.get("name")))
        return names
    return None


def parse_tgi_info(data: dict[str, Any]) -> ServerInfo:
    """TGI's /info; ``max_input_length`` is the pre-2.1 name of ``max_input_tokens``.

    TGI itself does not list its LoRA adapters in /info; a deployment (or the test server)
    may add ``lora_adapters`` (TGI's LORA_ADAPTERS syntax: ``id`` or ``id=path``, comma-separated or a list).
    """
    max_total = int(data.get("max_total_tokens") or 4096)
    max_input = int(data.get("max_input_tokens") or data.get("max_input_length") or max_total - 1)
    return ServerInfo(
        model_id=str(data.get("model_id") or "tgi"),
        max_input_tokens=max_input,
        max_total_tokens=max_total,
        adapters=_adapter_list(data.get("lora_adapters", data.get("adapters"))),
        version=data.get("version"),
    )


def parse_vllm_models(data: dict[str, Any]) -> ServerInfo:
    models = [m for m in data.get("data", []) if isinstance(m, dict)]
    if not models:
        raise LlmTransientError("vLLM /v1/models lists no model")
    base = next((m for m in models if not m.get("parent")), models[0])
    max_len = int(base.get("max_model_len") or 8192)
    return ServerInfo(
        model_id=str(base.get("id")),
        max_input_tokens=max_len - 1,
        max_total_tokens=max_len,
        adapters=[str(m["id"]) for m in models if m.get("parent")],
    )


def build_backend(
    url: str, flavour: str, *, api: str = "generate", timeout_s: float = 30.0, api_key: str | None = None
) -> InferenceBackend:
    """The client for the configured server flavour."""
    if flavour == "vllm":
        return VllmBackend(url, timeout_s=timeout_s, api_key=api_key)
    if flavour == "tgi":
        return TgiBackend(url, timeout_s=timeout_s, api=api, api_key=api_key)
    raise ValueError(f"unknown inference server flavour {flavour!r}: choose tgi or vllm")


def describe_request(request: GenerationRequest) -> str:
    """A short log line for one request (no mail content)."""
    return json.dumps({"adapter": request.adapter_id, "turns": len(request.turns), "max_new": request.max_new_tokens})
