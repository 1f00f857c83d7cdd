"""A real HTTP server speaking Text Generation Inference's documented API, with scripted answers.

This machine cannot run TGI or load Gemma weights, so tests (and the evaluation's
agent mode) talk to this instead, over real sockets, through the real clients:

- ``POST /generate`` (and ``POST /`` with ``stream: false``): ``{"inputs", "parameters"}``
  with ``grammar`` ``{"type": "json"|"regex", "value"}`` and ``adapter_id``; answers
  ``{"generated_text", "details"}`` (details when asked for);
- ``POST /v1/chat/completions``: the Messages API; the adapter is ``model``; the schema is
  ``response_format {"type": "json", "value"}`` (TGI) or ``structured_outputs {"json"}`` (vLLM);
- ``GET /info`` (model_id, max_input_tokens, max_total_tokens, ``lora_adapters``),
  ``GET /health``, ``GET /v1/models`` (vLLM's listing: base model and LoRA modules);
- errors as TGI sends them: ``{"error", "error_type"}`` with 422 (validation),
  424 (generation), 429 (overloaded), 500 (incomplete_generation / unknown).

Replies come from a script (a queue of :class:`Reply`) or, when it is empty, from
``responder(request)`` or ``default_text``. Every request is recorded. A reply may be
delayed (``delay_s``) to provoke client timeouts. Use as an async context manager::

    async with TgiTestServer(lora_adapters=["extract-v3"]) as server:
        server.script.append(Reply(text='{"facts": ...}'))
        ... QUOTEFLOW_LLM_URL = server.url ...
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

ErrorType = Literal["validation", "generation", "overloaded", "incomplete_generation", "unknown"]
ERROR_STATUS: dict[str, int] = {
    "validation": 422,
    "generation": 424,
    "overloaded": 429,
    "incomplete_generation": 500,
    "unknown": 500,
}


@dataclass
class Reply:
    """One scripted answer: generated text, or a TGI error; optionally late."""

    text: str | None = None
    error: str | None = None
    error_type: ErrorType | None = None
    status: int | None = None
    delay_s: float = 0.0
    finish_reason: str = "eos_token"
    retry_after_s: float | None = None

    @classmethod
    def failure(cls, error_type: ErrorType, message: str | None = None, *, retry_after_s: float | None = None) -> Reply:
        return cls(
            error=message or f"scripted {error_type} error",
            error_type=error_type,
            status=ERROR_STATUS[error_type],
            retry_after_s=retry_after_s,
        )


@dataclass
class RecordedRequest:
    """A request as the server received it."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    received_at: float

    @property
    def adapter(self) -> str | None:
        """The adapter the request asked for: ``adapter_id`` (/generate) or ``model`` (Messages API)."""
        if not isinstance(self.body, dict):
            return None
        if self.path in ("/generate", "/"):
            params = self.body.get("parameters") or {}
            return params.get("adapter_id")
        return self.body.get("model")

    @property
    def schema(self) -> Any:
        """The JSON schema the request constrained the output with, whichever field carried it."""
        if not isinstance(self.body, dict):
            return None
        if self.path in ("/generate", "/"):
            grammar = (self.body.get("parameters") or {}).get("grammar") or {}
            return grammar.get("value") if grammar.get("type") == "json" else None
        response_format = self.body.get("response_format") or {}
        if response_format.get("type") in ("json", "json_object") and "value" in response_format:
            return response_format["value"]
        structured = self.body.get("structured_outputs") or {}
        return structured.get("json")

    @property
    def prompt(self) -> str:
        """The prompt text: ``inputs`` for /generate, the concatenated message contents for chat."""
        if not isinstance(self.body, dict):
            return ""
        if "inputs" in self.body:
            return str(self.body["inputs"])
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages") or [])


def estimate_tokens(text: str) -> int:
    """Roughly Gemma's count (4 Latin characters or 1.5 Hangul per token), for the length checks."""
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars) / 1.5)


@dataclass
class TgiTestServer:
    """TGI's HTTP API on 127.0.0.1 with scripted outputs and recorded requests."""

    model_id: str = "google/gemma-2-2b-it"
    max_input_tokens: int = 4096
    max_total_tokens: int = 8192
    lora_adapters: list[str] | None = field(default_factory=list)
    list_adapters_in_info: bool = True
    default_text: str | None = None
    responder: Callable[[RecordedRequest], Reply] | None = None
    delay_s: float = 0.0
    healthy: bool = True
    host: str = "127.0.0.1"
    script: deque[Reply] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> TgiTestServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/info", self._info)
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/generate", self._generate)
        app.router.add_post("/", self._generate)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TgiTestServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ helpers for tests

    def reply_with(self, *replies: Reply | str) -> None:
        """Queue replies; a plain string is generated text."""
        for reply in replies:
            self.script.append(Reply(text=reply) if isinstance(reply, str) else reply)

    def generation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    # ------------------------------------------------------------------ handlers

    async def _record(self, request: web.Request) -> RecordedRequest:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = raw.decode("utf-8", "replace")
        recorded = RecordedRequest(request.method, request.path, body, dict(request.headers), time.monotonic())
        self.requests.append(recorded)
        return recorded

    @staticmethod
    def _error(status: int, message: str, error_type: str, retry_after_s: float | None = None) -> web.Response:
        headers = {"Retry-After": f"{retry_after_s:g}"} if retry_after_s is not None else None
        return web.json_response({"error": message, "error_type": error_type}, status=status, headers=headers)

    def _next_reply(self, recorded: RecordedRequest) -> Reply:
        if self.script:
            return self.script.popleft()
        if self.responder is not None:
            return self.responder(recorded)
        if self.default_text is not None:
            return Reply(text=self.default_text)
        return Reply.failure("unknown", "test server has no scripted reply left")

    async def _info(self, request: web.Request) -> web.Response:
        await self._record(request)
        info: dict[str, Any] = {
            "model_id": self.model_id,
            "model_sha": None,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            "max_input_tokens": self.max_input_tokens,
            "max_total_tokens": self.max_total_tokens,
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": "3.3.6-test",
            "sha": None,
            "docker_label": None,
        }
        if self.list_adapters_in_info and self.lora_adapters is not None:
            info["lora_adapters"] = list(self.lora_adapters)
        return web.json_response(info)

    async def _health(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.healthy:
            return web.Response(status=200)
        return self._error(503, "model not ready", "unhealthy")

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        created = int(time.time())
        data = [
            {
                "id": self.model_id,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": self.model_id,
                "parent": None,
                "max_model_len": self.max_total_tokens,
            }
        ]
        for adapter in self.lora_adapters or []:
            data.append(
                {
                    "id": adapter,
                    "object": "model",
                    "created": created,
                    "owned_by": "vllm",
                    "root": f"/adapters/{adapter}",
                    "parent": self.model_id,
                }
            )
        return web.json_response({"object": "list", "data": data})

    def _validate_grammar(self, grammar: Any) -> str | None:
        if grammar is None:
            return None
        if not isinstance(grammar, dict) or grammar.get("type") not in ("json", "regex", "json_object"):
            return 'Input validation error: grammar must be {"type": "json"|"regex", "value": ...}'
        if "value" not in grammar:
            return "Input validation error: grammar needs a value"
        return None

    def _validate_length(self, prompt: str, max_new_tokens: int) -> str | None:
        tokens = estimate_tokens(prompt)
        if tokens > self.max_input_tokens:
            limit = self.max_input_tokens
            return f"Input validation error: `inputs` must have less than {limit} tokens. Given: {tokens}"
        if tokens + max_new_tokens > self.max_total_tokens:
            return (
                "Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
                f"{self.max_total_tokens}. Given: {tokens} `inputs` tokens and {max_new_tokens} `max_new_tokens`"
            )
        return None

    async def _answer(self, recorded: RecordedRequest) -> tuple[Reply | None, web.Response | None]:
        reply = self._next_reply(recorded)
        delay = reply.delay_s or self.delay_s
        if delay:
            await asyncio.sleep(delay)
        if reply.error is not None:
            status = reply.status or ERROR_STATUS.get(reply.error_type or "unknown", 500)
            return None, self._error(status, reply.error, reply.error_type or "unknown", reply.retry_after_s)
        return reply, None

    async def _generate(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        body = recorded.body
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), str):
            return self._error(422, "Failed to deserialize the JSON body: missing field `inputs`", "validation")
        if body.get("stream"):
            return self._error(422, "this test server does not stream", "validation")
        parameters = body.get("parameters") or {}
        problem = self._validate_grammar(parameters.get("grammar")) or self._validate_length(
            body["inputs"], int(parameters.get("max_new_tokens") or 100)
        )
        if problem:
            return self._error(422, problem, "validation")
        reply, error = await self._answer(recorded)
        if error is not None:
            return error
        assert reply is not None
        text = reply.text or ""
        generated_tokens = max(1, estimate_tokens(text))
        result: dict[str, Any] = {"generated_text": text}
        if parameters.get("details"):
            result["details"] = {
                "finish_reason": reply.finish_reason,
                "generated_tokens": generated_tokens,
                "seed": None,
                "prefill": [],
                "tokens": [],
            }
        return web.json_response(result if request.path == "/generate" else [result])

    async def _chat(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        body = recorded.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(422, "Failed to deserialize the JSON body: missing field `messages`", "validation")
        roles = [m.get("role") for m in body["messages"] if isinstance(m, dict)]
        if "system" in roles:
            # Gemma 2's chat template raises on a system turn; TGI reports it as a template error.
            return self._error(422, "Template error: System role not supported", "template_error")
        if body.get("stream"):
            return self._error(422, "this test server does not stream", "validation")
        problem = self._validate_grammar(body.get("response_format")) or self._validate_length(
            recorded.prompt, int(body.get("max_tokens") or 100)
        )
        if problem:
            return self._error(422, problem, "validation")
        reply, error = await self._answer(recorded)
        if error is not None:
            return error
        assert reply is not None
        text = reply.text or ""
        completion_tokens = max(1, estimate_tokens(text))
        prompt_tokens = estimate_tokens(recorded.prompt)
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or self.model_id,
                "system_fingerprint": "3.3.6-test",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": "length" if reply.finish_reason == "length" else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )


@contextmanager
def serving_in_thread(server: TgiTestServer) -> Iterator[str]:
    """The test server on its own event loop in a thread, for code that calls asyncio.run itself; yields its URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server.url
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
