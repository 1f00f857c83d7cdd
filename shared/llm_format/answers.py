"""What the model answers: the answer texts, the JSON schemas servers enforce, and the parsers.

The schemas are generated from the pydantic models.

Constrained decoding (TGI grammar, vLLM structured outputs) follows the schema
token by token, so it must be explicit: every key is required (the model cannot
skip a field) and every value is nullable (``null`` is how it says "not stated").
References are inlined because grammar compilers handle ``$ref`` unevenly.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from shared.events import KeyFacts, StrictModel

_DROPPED_KEYWORDS = ("title", "default", "examples")


class LlmAnswer(StrictModel):
    """What the model answers for one thread over its two tasks: the SPEC key facts, a summary and tags."""

    facts: KeyFacts = Field(description="The key facts of SPEC.md §1; null for anything the thread does not state.")
    summary: str | None = Field(
        default=None, description="Per-message summary followed by the final terms, in the thread's language."
    )
    tags: list[str] | None = Field(default=None, description="Short topic tags, in the thread's language.")


def strict_nullable_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with refs inlined, all keys required and every field nullable."""
    raw = model.model_json_schema()
    definitions = raw.pop("$defs", {})
    tightened: dict[str, Any] = _tighten(_inline(raw, definitions))
    return tightened


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            resolved = _inline(copy.deepcopy(definitions[name]), definitions)
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolved, **extra}
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, definitions) for value in node]
    return node


def _is_nullable(node: dict[str, Any]) -> bool:
    if node.get("type") == "null":
        return True
    return any(isinstance(option, dict) and option.get("type") == "null" for option in node.get("anyOf", []))


def _tighten(node: Any) -> Any:
    if isinstance(node, list):
        return [_tighten(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _tighten(value) for key, value in node.items() if key not in _DROPPED_KEYWORDS}
    if node.get("type") == "object" and "properties" in node:
        properties: dict[str, Any] = node["properties"]
        node["properties"] = {name: _nullable(spec) for name, spec in properties.items()}
        node["required"] = list(properties)
        node["additionalProperties"] = False
    return node


def _nullable(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` accepting null as well (lists too: the model may say 'no items' as null)."""
    if _is_nullable(spec):
        return spec
    description = spec.get("description")
    body = {k: v for k, v in spec.items() if k != "description"}
    result: dict[str, Any] = {"anyOf": [body, {"type": "null"}]}
    if description:
        result["description"] = description
    return result


class InvalidAnswer(ValueError):
    """The model's text is not a valid answer to its task; ``reason`` is fed back in the repair turn."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _strip_fences(text: str) -> str:
    """Models without a grammar like to wrap JSON in ``` fences; accept that, nothing looser."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        if stripped.rstrip().endswith("```"):
            stripped = stripped.rstrip()[:-3]
    return stripped.strip()


def facts_answer(facts: KeyFacts) -> str:
    """The exact answer text of the key-facts task: compact JSON in SPEC field order (training target,
    few-shot answer)."""
    return json.dumps(_whole_numbers_as_integers(facts.model_dump(mode="json")), ensure_ascii=False)


def _whole_numbers_as_integers(node: Any) -> Any:
    """``200.0`` as ``200``, the way people and the mail write it. A model trained on ``200.0`` over-applies the
    suffix (``24.45.0``), which is not JSON; the parser reads ``200`` back as the same float."""
    if isinstance(node, dict):
        return {key: _whole_numbers_as_integers(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_whole_numbers_as_integers(value) for value in node]
    if isinstance(node, float) and node.is_integer() and abs(node) < 2**53:
        return int(node)
    return node


def summary_answer(summary: str, tags: list[str]) -> str:
    """The exact answer text of the summary-and-tags task."""
    return json.dumps({"summary": summary, "tags": tags}, ensure_ascii=False)


@cache
def _facts_schema_json() -> str:
    return json.dumps(strict_nullable_schema(KeyFacts), ensure_ascii=False)


def facts_schema() -> dict[str, Any]:
    """The schema of the key-facts task's answer (a fresh copy each call)."""
    return dict(json.loads(_facts_schema_json()))


def summary_tags_schema() -> dict[str, Any]:
    """The schema of the summary-and-tags task's answer: ``{"summary": str, "tags": [str]}``."""
    return {
        "type": "object",
        "properties": {
            "summary": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        },
        "required": ["summary", "tags"],
        "additionalProperties": False,
    }


def _load_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(_strip_fences(text))
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(data, dict):
        raise InvalidAnswer(f"is a JSON {type(data).__name__}, not an object")
    return data


def parse_facts(text: str) -> KeyFacts:
    """The key-facts answer: a bare key-facts object (repairable: the reason says what is wrong)."""
    data = _load_object(text)
    if data.get("items", []) is None:
        data["items"] = []
    try:
        return KeyFacts.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidAnswer(f"does not match the schema: {problems}") from exc


def parse_summary_tags(text: str) -> tuple[str | None, list[str] | None]:
    """The summary-and-tags answer."""
    data = _load_object(text)
    summary, tags = data.get("summary"), data.get("tags")
    if summary is not None and not isinstance(summary, str):
        raise InvalidAnswer("has a summary that is not a string")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        raise InvalidAnswer("has tags that are not a list of strings")
    return summary, tags


# Longest value the grammar lets the model write, by property name (anything else: DEFAULT_MAX_CHARS).
# A grammar-constrained string without a bound can run on to max_tokens and cut the JSON off;
# with one, a rambling model is forced to close the string and move on.
MAX_CHARS: dict[str, int] = {
    "summary": 160,
    "payment_terms": 80,
    "product": 60,
    "company": 40,
    "email": 60,
    "name": 40,
    "unit": 16,
    "currency": 3,
    "delivery_date": 10,
    "tags": 20,
}
# The base model repeats list entries until told to stop; each item costs ~40 tokens on a CPU.
MAX_ITEMS: dict[str, int] = {"items": 6, "tags": 6}
DEFAULT_MAX_CHARS = 60
DEFAULT_MAX_ITEMS = 6


def bounded_schema(schema: dict[str, Any], *, scale: float = 1.0) -> dict[str, Any]:
    """A copy of ``schema`` where every string has a ``maxLength`` and every array a ``maxItems``.

    Bounds come from :data:`MAX_CHARS` / :data:`MAX_ITEMS` by the nearest property name
    (array items inherit their array's name); ``scale`` shortens free text and lists, never
    fixed-width values (codes, dates: 16 characters or fewer). Bounds already present stay.
    """

    def chars(name: str | None) -> int:
        limit = MAX_CHARS.get(name or "", DEFAULT_MAX_CHARS)
        return limit if limit <= 16 else max(16, int(limit * scale))

    def walk(node: Any, name: str | None) -> Any:
        if isinstance(node, list):
            return [walk(value, name) for value in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {prop: walk(spec, prop) for prop, spec in value.items()}
            else:
                out[key] = walk(value, name)
        if out.get("type") == "string" and "enum" not in out and "maxLength" not in out:
            out["maxLength"] = chars(name)
        if out.get("type") == "array" and "maxItems" not in out:
            out["maxItems"] = max(1, int(MAX_ITEMS.get(name or "", DEFAULT_MAX_ITEMS) * scale))
        return out

    bounded: dict[str, Any] = walk(copy.deepcopy(schema), None)
    return bounded


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def read_facts(text: str) -> KeyFacts | None:
    """Key facts from an answer written without a grammar (evaluation of a checkpoint): the first JSON
    object in the text, bare or under ``facts``; None when there is nothing usable."""
    match = _JSON_OBJECT.search(text)
    if not match:
        return None
    try:
        data: Any = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and isinstance(data.get("facts"), dict):
        data = data["facts"]
    if not isinstance(data, dict):
        return None
    known = {key: value for key, value in data.items() if key in KeyFacts.model_fields}
    if not known:
        return None
    if known.get("items", []) is None:
        known["items"] = []
    try:
        return KeyFacts.model_validate(known)
    except ValidationError:
        return None
