"""Clients for the inference server: TGI (/generate or its Messages API) and vLLM's OpenAI-compatible server.

Both go through ``huggingface_hub.AsyncInferenceClient``; what differs is where the
adapter and the schema go:

- TGI /generate: the Gemma-formatted prompt, ``adapter_id`` and
  ``grammar={"type": "json", "value": schema}``.
- TGI Messages API: chat messages, the adapter as ``model``, the schema as
  ``response_format={"type": "json", "value": schema}``.
- vLLM: chat messages, the LoRA module name (``--lora-modules name=path``) as ``model``,
  the schema as ``structured_outputs={"json": schema}``.
- llama-cpp-python's server (flavour ``llamacpp``, the embedded one): plain httpx, see
  :class:`LlamaCppBackend` for why.

``model`` is never left to the client's default ``"dummy"``: without an adapter it is the
served base model's id. Errors become :class:`LlmTransientError` (429, 5xx, 424,
timeouts, connection) or :class:`LlmRejectedError` (other 4xx).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import httpx
from huggingface_hub import AsyncInferenceClient
from huggingface_hub.errors import HfHubHTTPError, TextGenerationError

from services.extract.llm.resilience import LlmError, LlmRejectedError, LlmTransientError
from shared.llm_format.answers import bounded_schema
from shared.llm_format.prompts import Turn, chat_messages, render_gemma

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
    """The model's text and how it ended (``length`` means cut off by max_new_tokens); token counts
    as the server reports them (None: it did not)."""

    text: str
    finish_reason: str | None = None
    generated_tokens: int | None = None
    prompt_tokens: int | None = None


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
    """TGI's ``{"error", "error_type"}`` body (OpenAI's ``{"error": {"message"}}``, FastAPI's ``{"detail"}``)
    when there is one, the exception text otherwise."""
    if response is not None:
        try:
            body = response.json()
        except (ValueError, httpx.ResponseNotRead):
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("message"):
            return str(body["error"]["message"])
        if isinstance(body, dict) and body.get("detail"):
            return str(body["detail"])
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


class _LoopBoundHttp:
    """One httpx.AsyncClient per event loop, for the same reason as :class:`_LoopBoundClient`."""

    def __init__(self, timeout_s: float, api_key: str | None, event_hooks: dict[str, list[Any]] | None) -> None:
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._event_hooks = event_hooks or {}
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
        entry = self._clients.get(id(loop))
        if entry is None or entry[0] is not loop:
            client = httpx.AsyncClient(timeout=self.timeout_s, headers=self._headers, event_hooks=self._event_hooks)
            entry = (loop, client)
            self._clients[id(loop)] = entry
        return entry[1]

    async def close(self) -> None:
        entry = self._clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await entry[1].aclose()


# llama-cpp-python 0.3.36's converter lets a string hold raw control characters (a newline inside a
# JSON string is invalid JSON) and a number 16 digits before and after the point (the base model
# writes 5000000000000000 for 5, each digit a token). These rules replace its own.
GRAMMAR_RULES = {
    "char": r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "integral-part": "integral-part ::= [0-9] | [1-9] [0-9]{0,12}",
    "decimal-part": "decimal-part ::= [0-9]{1,4}",
}


def tighten_grammar(gbnf: str) -> str:
    """``gbnf`` with the rules of :data:`GRAMMAR_RULES` in place of the converter's (rules it lacks stay absent)."""
    lines = []
    for line in gbnf.splitlines():
        name = line.split(" ::= ", 1)[0]
        lines.append(GRAMMAR_RULES.get(name, line) if " ::= " in line else line)
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=32)
def schema_grammar(schema_json: str) -> str:
    """The GBNF grammar of a JSON schema: llama-cpp-python's own converter (the one its server applies
    to a chat request's ``response_format.schema``), tightened by :func:`tighten_grammar`."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except Exception as exc:  # ImportError, or OSError when the native library cannot load
        raise LlmRejectedError(
            f"the llamacpp flavour needs llama-cpp-python (the llm extra) for its schema grammar: {exc}"
        ) from exc
    try:
        return tighten_grammar(str(json_schema_to_gbnf(schema_json)))
    except Exception as exc:
        raise LlmRejectedError(f"the schema cannot be turned into a grammar: {type(exc).__name__}: {exc}") from exc


class LlamaCppBackend:
    """llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``), e.g. the embedded one.

    Plain httpx against ``/v1/completions``, not huggingface_hub's InferenceClient, because
    of how that server enforces a schema:

    - the prompt is ours: the turns rendered by :func:`render_gemma`, so the model reads
      exactly what TGI's /generate (and training) give it; the Gemma 3 270M GGUF has no
      chat template, and InferenceClient has no call for an OpenAI ``/v1/completions``;
    - /v1/completions (llama-cpp-python 0.3.36, ``CreateCompletionRequest``) has no
      ``response_format``: a ``{"type": "json_object", "schema": S}`` sent there is dropped
      without an error and the output is unconstrained. Its ``grammar`` field (GBNF) is
      enforced, so the schema goes as the grammar llama-cpp-python's converter makes of
      it (the same one its chat route builds from ``response_format.schema``), with raw
      control characters kept out of strings and numbers kept to 13 digits (:func:`tighten_grammar`);
    - every string of the schema gets a ``maxLength`` and every array a ``maxItems``
      (:func:`bounded_schema`): an unbounded string runs on to max_tokens and cuts the JSON;
    - the adapter is the model alias (``model``). The server answers an alias it does
      not know with its first model, silently; /v1/models lists the aliases, so the engine
      refuses an adapter the server does not have (``ServerInfo.adapters``).

    ``base_alias`` names the base model among the aliases (default: the first listed, which
    is what the server falls back to). ``context_tokens`` is the server's n_ctx (its
    /v1/models does not say). ``on_close`` stops a server this backend owns (the embedded one).
    """

    flavour = "llamacpp"
    api = "completions"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        api_key: str | None = None,
        base_alias: str | None = None,
        context_tokens: int = 4096,
        string_scale: float = 1.0,
        on_close: Callable[[], None] | None = None,
        event_hooks: dict[str, list[Any]] | None = None,
    ) -> None:
        self.base_url = normalise_base_url(url)
        self.base_alias = base_alias
        self.context_tokens = context_tokens
        self.string_scale = string_scale
        self._http = _LoopBoundHttp(timeout_s, api_key, event_hooks)
        self._on_close = on_close

    async def info(self) -> ServerInfo:
        """From /v1/models: the base alias and the others (adapters, each a model entry with ``lora_path``)."""
        url = f"{self.base_url}/v1/models"
        try:
            response = await self._http.get().get(url)
            response.raise_for_status()
            data = response.json()
        except Exception as exc:
            raise translate_error(exc, url, self._http.timeout_s) from exc
        return parse_llamacpp_models(data, base_alias=self.base_alias, context_tokens=self.context_tokens)

    async def healthy(self) -> bool:
        try:
            response = await self._http.get().get(f"{self.base_url}/v1/models")
        except Exception:
            return False
        return response.status_code == 200

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The /v1/completions body: raw Gemma prompt, alias, greedy decoding under the schema's grammar."""
        schema = bounded_schema(request.schema, scale=self.string_scale)
        return {
            "model": request.adapter_id or request.base_model_id,
            "prompt": render_gemma(request.turns),
            "max_tokens": request.max_new_tokens,
            "temperature": 0.0,
            "repeat_penalty": 1.0,  # JSON repeats keys and quotes by design
            "grammar": schema_grammar(json.dumps(schema, ensure_ascii=False, sort_keys=False)),
            "stop": [GEMMA_STOP],
        }

    async def generate(self, request: GenerationRequest) -> Generation:
        """Streamed, so that a request given up on (timeout, cancelled thread) stops the server too.

        llama-cpp-python's server checks for a closed connection after every streamed token; a
        plain request would go on writing to max_tokens and answer nothing else meanwhile, so one
        timeout would make the next threads time out as well. Streamed chunks carry no usage: the
        generated tokens are the chunks counted (one token each), the prompt's are estimated.
        """
        url = f"{self.base_url}/v1/completions"
        body = {**self.request_body(request), "stream": True}
        parts: list[str] = []
        finish_reason: str | None = None
        chunks = 0
        try:
            async with asyncio.timeout(request.timeout_s):
                async with self._http.get().stream("POST", url, json=body, timeout=request.timeout_s) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        response.raise_for_status()
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            break
                        choices = json.loads(payload).get("choices") or [{}]
                        parts.append(str(choices[0].get("text") or ""))
                        finish_reason = choices[0].get("finish_reason") or finish_reason
                        chunks += 1
        except Exception as exc:
            raise translate_error(exc, url, request.timeout_s) from exc
        if not chunks:
            raise LlmTransientError(f"{url} returned no choices")
        return Generation(text="".join(parts), finish_reason=finish_reason, generated_tokens=chunks)

    async def close(self) -> None:
        await self._http.close()
        if self._on_close is not None:
            stop, self._on_close = self._on_close, None
            await asyncio.to_thread(stop)


def parse_llamacpp_models(data: dict[str, Any], *, base_alias: str | None, context_tokens: int) -> ServerInfo:
    """llama-cpp-python's /v1/models: every alias; the base one named, or the first (the server's fallback)."""
    ids = [str(m["id"]) for m in data.get("data", []) if isinstance(m, dict) and m.get("id")]
    if not ids:
        raise LlmTransientError("llama-cpp-python /v1/models lists no model")
    base = base_alias or ids[0]
    if base not in ids:
        raise LlmRejectedError(f"the server does not serve the base model {base!r} (it has: {', '.join(ids)})")
    return ServerInfo(
        model_id=base,
        max_input_tokens=context_tokens - 1,
        max_total_tokens=context_tokens,
        adapters=[i for i in ids if i != base],
    )


def _chat_generation(chat: Any) -> Generation:
    if not chat.choices:
        raise LlmTransientError("the server returned no choices")
    choice = chat.choices[0]
    usage = getattr(chat, "usage", None)
    return Generation(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason,
        generated_tokens=getattr(usage, "completion_tokens", None) if usage else None,
        prompt_tokens=getattr(usage, "prompt_tokens", None) if usage else None,
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
    url: str,
    flavour: str,
    *,
    api: str = "generate",
    timeout_s: float = 30.0,
    api_key: str | None = None,
    context_tokens: int = 4096,
    base_alias: str | None = None,
    on_close: Callable[[], None] | None = None,
) -> InferenceBackend:
    """The client for the configured server flavour (``on_close``, ``base_alias`` and ``context_tokens``: llamacpp)."""
    if flavour == "llamacpp":
        return LlamaCppBackend(
            url,
            timeout_s=timeout_s,
            api_key=api_key,
            base_alias=base_alias,
            context_tokens=context_tokens,
            on_close=on_close,
        )
    if flavour == "vllm":
        return VllmBackend(url, timeout_s=timeout_s, api_key=api_key)
    if flavour == "tgi":
        return TgiBackend(url, timeout_s=timeout_s, api=api, api_key=api_key)
    raise ValueError(f"unknown inference server flavour {flavour!r}: choose tgi, vllm or llamacpp")


def describe_request(request: GenerationRequest) -> str:
    """A short log line for one request (no mail content)."""
    return json.dumps({"adapter": request.adapter_id, "turns": len(request.turns), "max_new": request.max_new_tokens})
