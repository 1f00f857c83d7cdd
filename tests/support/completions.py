"""Reading llama-cpp-python's /v1/completions answers in tests, streamed (what extract sends) or not."""

from __future__ import annotations

import json
from typing import Any

import httpx


def completion_answer(response: httpx.Response) -> Any:
    """The answer as one completion object (``model``, ``choices[0].text`` and ``finish_reason``), or the
    status code of a failed request. A streamed answer's chunks are joined; the response must be read."""
    if response.status_code != 200:
        return response.status_code
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        return response.json()
    model, parts, finish = None, [], None
    for line in response.text.splitlines():
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        chunk = json.loads(line[5:])
        model = chunk.get("model", model)
        choice = (chunk.get("choices") or [{}])[0]
        parts.append(choice.get("text") or "")
        finish = choice.get("finish_reason") or finish
    return {"model": model, "choices": [{"text": "".join(parts), "finish_reason": finish}], "chunks": len(parts)}
