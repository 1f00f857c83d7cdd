"""`quoteflow process` end to end: the real command starts the embedded stack and writes quotes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

QUOTEFLOW = [sys.executable, "-m", "services.cli"]


def _run(args: list[str], tmp_path: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env["QUOTEFLOW_LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [*QUOTEFLOW, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.e2e
def test_process_examples_on_the_embedded_stack(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run(["process", str(EXAMPLES), "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    talk = out / "talk-x-product"
    markdown = (talk / "quote.md").read_text(encoding="utf-8")
    assert "견적서" in markdown
    assert "1,045,000" in markdown
    facts = json.loads((talk / "facts.json").read_text(encoding="utf-8"))
    assert facts["facts"]["items"][0]["unit_price"] == 9500
    assert (out / "valves-en" / "quote.html").exists()
    assert "talk-x-product" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["process", "does-not-exist.eml"], "no such file or folder"),
        (["serve", "nonsense"], "unknown service"),
        (["serve", "ingest"], "QUOTEFLOW_KAFKA_BOOTSTRAP"),
        (["extract", "--engine", "gpt", str(EXAMPLES / "single-inquiry.eml")], "unknown engine"),
        (["quote", "missing.json"], "No such file"),
        (["no-such-command"], "No such command"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str, tmp_path: Path) -> None:
    result = _run(args, tmp_path, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr


def test_extract_prints_spec_json(tmp_path: Path) -> None:
    result = _run(["extract", str(EXAMPLES / "talk-x-product.mbox")], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {"thread_id", "facts", "summary", "tags"} <= set(document)
    assert document["facts"]["currency"] == "KRW"


def test_help_lists_the_spec_commands(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path, timeout=60)
    assert result.returncode == 0
    for command in ("extract", "run", "process"):
        assert command in result.stdout
    assert REPO.exists()
