"""The llamacpp flavour without a server: settings, the bounded schema, the /v1/models listing, adapter discovery.

The real server with the real Gemma 270M is in test_llamacpp_real.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.extract.llm.client import parse_llamacpp_models
from services.extract.llm.resilience import LlmRejectedError
from services.extract.main import embedded_adapters
from services.extract.settings import CPU_DEFAULTS, ExtractSettings
from services.trainer.registry import AdapterRegistry
from shared.embedded_llm import AdapterFile
from shared.events import AdapterEvent
from shared.llm_format.answers import bounded_schema, facts_schema, summary_tags_schema


def test_no_url_and_no_flavour_means_the_embedded_llamacpp_server_with_cpu_defaults() -> None:
    settings = ExtractSettings(engine="llm")
    assert settings.llm_flavour == "llamacpp"
    assert {name: getattr(settings, name) for name in CPU_DEFAULTS} == CPU_DEFAULTS


def test_values_set_explicitly_stay_and_gpu_flavours_keep_their_defaults() -> None:
    chosen = ExtractSettings(engine="llm", llm_timeout_s=7, llm_max_concurrency=2)
    assert (chosen.llm_flavour, chosen.llm_timeout_s, chosen.llm_max_concurrency) == ("llamacpp", 7, 2)
    tgi = ExtractSettings(engine="llm", llm_url="http://tgi:80")
    assert (tgi.llm_flavour, tgi.llm_timeout_s, tgi.llm_max_concurrency) == ("tgi", 30.0, 4)


def test_cpu_budget_stays_within_half_the_poll_interval() -> None:
    settings = ExtractSettings(engine="llm", kafka_max_poll_interval_ms=200_000)
    assert settings.llm_total_budget_s == 100


def _unbounded(node: Any, path: str = "$") -> list[str]:
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _unbounded(v, f"{path}[{i}]")]
    if not isinstance(node, dict):
        return []
    found = []
    if node.get("type") == "string" and "enum" not in node and "maxLength" not in node:
        found.append(path)
    if node.get("type") == "array" and "maxItems" not in node:
        found.append(path)
    return found + [p for k, v in node.items() for p in _unbounded(v, f"{path}.{k}")]


@pytest.mark.parametrize("schema", [facts_schema(), summary_tags_schema()])
def test_every_string_and_array_of_the_sent_schema_is_bounded(schema: dict[str, Any]) -> None:
    assert _unbounded(schema), "the plain schema has unbounded strings (the test would prove nothing)"
    assert _unbounded(bounded_schema(schema)) == []


def test_bounds_by_field_and_existing_bounds_kept() -> None:
    facts = bounded_schema(facts_schema())["properties"]
    assert facts["currency"]["anyOf"][0]["maxLength"] == 3
    assert facts["delivery_date"]["anyOf"][0]["maxLength"] == 10
    items = facts["items"]["anyOf"][0]
    assert items["maxItems"] == 6 and items["items"]["properties"]["unit"]["anyOf"][0]["maxLength"] == 16
    kept = bounded_schema({"type": "string", "maxLength": 2})
    assert kept == {"type": "string", "maxLength": 2}


def test_models_listing_names_the_base_alias_and_the_adapters() -> None:
    listing = {"object": "list", "data": [{"id": "gemma"}, {"id": "extract-v3"}]}
    info = parse_llamacpp_models(listing, base_alias="gemma", context_tokens=4096)
    assert (info.model_id, info.adapters, info.max_total_tokens, info.max_input_tokens) == (
        "gemma",
        ["extract-v3"],
        4096,
        4095,
    )
    assert parse_llamacpp_models(listing, base_alias=None, context_tokens=2048).model_id == "gemma"
    with pytest.raises(LlmRejectedError, match="base model 'other'"):
        parse_llamacpp_models(listing, base_alias="other", context_tokens=2048)


def test_only_a_promoted_adapter_in_gguf_form_is_offered_to_the_embedded_server(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    folder = tmp_path / "adapters" / "extract-v3"
    folder.mkdir(parents=True)
    registry.record(AdapterEvent(adapter_id="extract-v3", base_model="gemma", path=str(folder), promoted=True))
    assert embedded_adapters(tmp_path / "adapters") == []  # PEFT only: llama.cpp cannot load it
    (folder / "adapter.gguf").write_bytes(b"GGUF")
    assert embedded_adapters(tmp_path / "adapters") == [AdapterFile("extract-v3", folder / "adapter.gguf")]
    assert embedded_adapters(tmp_path / "none") == []
