"""`quoteflow eval` end to end on a small synthetic set: engines, report files, compare, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.trainer.cases import assemble_case_sync, load_cases
from services.trainer.evaluation.baseline import BaselineEngine
from services.trainer.evaluation.report import write_report
from services.trainer.evaluation.runner import EvalError, compare, evaluate
from services.trainer.synth.writer import write_dataset
from shared.events import KeyFacts
from tests.support.tgi_server import TgiTestServer, serving_in_thread


@pytest.fixture(scope="module")
def threads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(12, 3, root, progress=False, workers=1)
    return root


def test_baseline_engine_extracts_something_real(threads: Path) -> None:
    case = next(c for c in load_cases(threads) if c.expected.items and c.expected.items[0].unit_price)
    thread = assemble_case_sync(case)
    assert thread is not None
    facts = BaselineEngine().extract_sync(thread).facts
    assert facts.buyer is not None and facts.buyer.email == case.expected.buyer.email  # type: ignore[union-attr]
    assert facts.items and facts.items[0].quantity is not None


def test_evaluate_rules_and_baseline_and_write_report(threads: Path, tmp_path: Path) -> None:
    run = evaluate(threads, ["rules", "baseline"], workers=1, use_model=False, judge=True)
    metrics = run.metrics
    assert metrics["dataset"]["threads"] == 12
    for engine in ("rules", "baseline"):
        data = metrics["engines"][engine]
        assert 0.0 <= data["key_fact_f1"]["f1"] <= 1.0
        assert set(data["by_language"]) <= {"ko", "en", "mixed"}
        assert data["key_fact_f1"]["threads"] == 12
    assert metrics["llm_judge"].startswith("skipped: QUOTEFLOW_LLM_URL is not set")
    paths = write_report(metrics, tmp_path / "report")
    assert json.loads(paths["metrics"].read_text())["engines"].keys() == {"rules", "baseline"}
    text = paths["report"].read_text()
    assert "| rules |" in text and "items.unit_price" in text
    for plot in ("per_field_plot", "engines_plot"):
        assert paths[plot].read_bytes().startswith(b"\x89PNG")

    older = json.loads(json.dumps(metrics))
    older["engines"]["rules"]["key_fact_f1"]["f1"] = 0.1
    rows = {(e, m): (a, b) for e, m, a, b in compare(older, metrics)}
    assert rows[("rules", "key_fact_f1")] == (0.1, metrics["engines"]["rules"]["key_fact_f1"]["f1"])


def test_unknown_engine_and_empty_dir_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="unknown engine"):
        evaluate(tmp_path, ["magic"])
    with pytest.raises(EvalError, match="no <id>/thread"):
        evaluate(tmp_path, ["rules"])


def test_llm_and_hybrid_engines_are_scored_beside_rules(threads: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a TGI server (the test server); without QUOTEFLOW_LLM_URL they would start the embedded CPU model."""
    answer = json.dumps(KeyFacts().model_dump(mode="json"))  # a model that finds nothing: hybrid keeps the rules
    with serving_in_thread(TgiTestServer(default_text=answer)) as url:
        monkeypatch.setenv("QUOTEFLOW_LLM_URL", url)
        monkeypatch.setenv("QUOTEFLOW_LLM_FLAVOUR", "tgi")
        run = evaluate(threads, ["rules", "llm", "hybrid"], workers=1, limit=3, semantic=False, judge=False)
    engines = run.metrics["engines"]
    assert engines["llm"]["model"] == engines["hybrid"]["model"] == "google/gemma-2-2b-it"
    assert engines["llm"]["key_fact_f1"]["f1"] < engines["rules"]["key_fact_f1"]["f1"]
    assert engines["hybrid"]["key_fact_f1"] == engines["rules"]["key_fact_f1"]
    assert engines["llm"]["errors"] == engines["hybrid"]["errors"] == 0


def test_cli_eval_and_compare(threads: Path, tmp_path: Path) -> None:
    from services.cli import app

    runner = CliRunner()
    out = tmp_path / "r1"
    args = ["eval", str(threads), "--engine", "rules", "--out", str(out), "--no-model", "--workers", "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (out / "report.md").exists()
    again = ["eval", str(threads), "--engine", "rules", "--out", str(tmp_path / "r2"), "--no-model", "--workers", "1"]
    second = runner.invoke(app, [*again, "--compare", str(out / "metrics.json")])
    assert second.exit_code == 0, second.output
    assert "Compared with the earlier run" in second.output
    bad = runner.invoke(app, ["eval", str(threads), "--compare", str(tmp_path / "missing.json")])
    assert bad.exit_code != 0
