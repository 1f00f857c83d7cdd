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


def _run(
    args: list[str], tmp_path: Path, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env["QUOTEFLOW_LOG_LEVEL"] = "WARNING"
    env.update(extra)
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


def _write_mbox(path: Path, messages: list[bytes]) -> Path:
    import mailbox

    path.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.mbox(str(path), create=True)
    try:
        for raw in messages:
            box.add(raw)
    finally:
        box.close()
    return path


@pytest.mark.e2e
def test_process_keeps_every_file_apart_and_says_what_became_of_it(tmp_path: Path) -> None:
    """Same-named files get their own folders; merged, repeated and bad files say so instead of 'timed out'."""
    from services.ingest.mailfiles import read_mail_files

    talk = read_mail_files([EXAMPLES / "talk-x-product.mbox"])[0].messages
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0].messages
    inputs = tmp_path / "in"
    _write_mbox(inputs / "a" / "quote.mbox", talk[:3])
    _write_mbox(inputs / "b" / "quote.mbox", valves)
    _write_mbox(inputs / "c" / "rest.mbox", talk[3:])
    _write_mbox(inputs / "d" / "copy.mbox", valves)
    (inputs / "e").mkdir()
    (inputs / "e" / "garbage.eml").write_bytes(b"\x00\x01\x02 not mail")
    out = tmp_path / "out"

    result = _run(["process", str(inputs), "--out", str(out)], tmp_path, env={"COLUMNS": "250"})

    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1  # the garbage file made no quote
    assert "1 of 5 file(s) did not produce a final quote" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["quote", "quote-2"]
    first = json.loads((out / "quote" / "facts.json").read_text(encoding="utf-8"))
    second = json.loads((out / "quote-2" / "facts.json").read_text(encoding="utf-8"))
    assert (first["thread_version"], first["facts"]["currency"]) == (6, "KRW")  # both halves of the talk thread
    assert (second["thread_version"], second["facts"]["currency"]) == (4, "USD")
    assert "1,045,000" in (out / "quote" / "quote.md").read_text(encoding="utf-8")
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 2}
    assert "merged into the thread of a/quote.mbox" in rows["c/rest.mbox"]
    assert "duplicate of b/quote.mbox" in rows["d/copy.mbox"]
    assert "dead-lettered: binary data, not an e-mail" in rows["e/garbage.eml"]
    assert "b/quote.mbox → quote-2/" in rows
    assert "timed out" not in result.stdout


def test_process_names_an_unreachable_redis(tmp_path: Path) -> None:
    from shared.embedded import free_port

    port = free_port()
    eml = EXAMPLES / "single-inquiry.eml"
    env_extra = {"QUOTEFLOW_REDIS_URL": f"redis://:secret@127.0.0.1:{port}/0"}
    result = _run(["process", str(eml), "--out", str(tmp_path / "out"), "--timeout", "5"], tmp_path, env=env_extra)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Redis at 127.0.0.1:{port} unreachable" in result.stderr
    assert "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
