"""The real `quoteflow` command on untrusted input: outputs stay in their folder, inputs are bounded,
errors are one line (never a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, FIXTURES

QUOTEFLOW = [sys.executable, "-m", "services.cli"]
FACTS = FIXTURES / "quote" / "valves_en.facts.json"


def _run(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env["QUOTEFLOW_LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [*QUOTEFLOW, *args], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120, check=False
    )


def _one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    stderr = result.stderr.decode()
    assert result.returncode != 0
    assert "Traceback" not in stderr + result.stdout.decode()
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_quote_out_never_leaves_the_folder_and_never_overwrites(tmp_path: Path) -> None:
    event = json.loads(FACTS.read_text(encoding="utf-8"))
    ids = ["../escaped", "/tmp/absolute", "t-1", "t-1", "a/b", "a_b"]
    text = "\n".join(json.dumps(event | {"thread_id": thread_id}) for thread_id in ids)
    (tmp_path / "facts.json").write_text(text, encoding="utf-8")
    out = tmp_path / "out"

    result = _run(["quote", "facts.json", "--out", "out"], tmp_path)

    assert result.returncode == 0, result.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == [
        "a_b-2.md",
        "a_b.md",
        "escaped.md",
        "t-1-2.md",
        "t-1.md",
        "tmp_absolute.md",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.json", "out"]
    assert not Path("/tmp/absolute.md").exists()


def test_quote_accepts_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + FACTS.read_bytes())
    result = _run(["quote", "bom.json"], tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith("# Quotation")
    piped = _run(["quote", "-"], tmp_path, stdin=b"\xef\xbb\xbf" + FACTS.read_bytes())
    assert piped.returncode == 0, piped.stderr.decode()


def test_extract_on_garbage_is_one_line_and_fails(tmp_path: Path) -> None:
    (tmp_path / "garbage.eml").write_bytes(b"\x00\x01\x02 not mail")
    result = _run(["extract", "garbage.eml"], tmp_path)
    assert result.stdout == b""
    assert _one_line_error(result) == (
        "error: no e-mail to extract from: garbage.eml message 1: binary data, not an e-mail"
    )


def test_extract_reports_skipped_messages_beside_good_threads(tmp_path: Path) -> None:
    (tmp_path / "garbage.eml").write_bytes(b"\x00\x01\x02 not mail")
    result = _run(["extract", "garbage.eml", str(EXAMPLES / "single-inquiry.eml")], tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["thread_id"].startswith("t-")
    assert result.stderr.decode().strip() == "skipped garbage.eml message 1: binary data, not an e-mail"


@pytest.mark.parametrize("tenant", ["..", "a:b", "한빛무역", "", "x" * 64, "Acme"])
def test_an_invalid_tenant_option_is_refused(tmp_path: Path, tenant: str) -> None:
    line = _one_line_error(_run(["quote", str(FACTS), "--tenant", tenant], tmp_path))
    assert line.startswith("error: Invalid value for --tenant: invalid tenant id"), line


def test_publish_refuses_an_invalid_tenant_before_connecting(tmp_path: Path) -> None:
    line = _one_line_error(_run(["publish", str(EXAMPLES / "single-inquiry.eml"), "--tenant", "acme:col"], tmp_path))
    assert line.startswith("error: Invalid value for --tenant: invalid tenant id 'acme:col'"), line


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "mail.eml")
    os.mkfifo(tmp_path / "facts.json")
    assert _one_line_error(_run(["normalize", "mail.eml"], tmp_path)) == (
        "error: cannot read mail.eml: a FIFO, not a regular file"
    )
    assert _one_line_error(_run(["quote", "facts.json"], tmp_path)) == (
        "error: cannot read facts.json: a FIFO, not a regular file"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused(tmp_path: Path) -> None:
    assert _one_line_error(_run(["extract", "/dev/zero"], tmp_path)) == (
        "error: cannot read /dev/zero: a device, not a regular file"
    )


def test_an_invalid_tenant_setting_names_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env["QUOTEFLOW_TENANT"] = "acme:col"
    result = subprocess.run(
        [*QUOTEFLOW, "normalize", str(EXAMPLES / "single-inquiry.eml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert _one_line_error(result).startswith("error: invalid setting QUOTEFLOW_TENANT: invalid tenant id 'acme:col'")
