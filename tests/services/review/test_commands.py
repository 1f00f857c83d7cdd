"""`quoteflow review-user`: argon2 hashes in the users file, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app
from services.review.users import UserDirectory, read_users
from tests.conftest import REPO


def test_add_writes_an_argon2_hash_the_desk_accepts(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    result = CliRunner().invoke(
        app,
        [
            "review-user",
            "add",
            "minji",
            "--tenant",
            "acme",
            "--tenant",
            "default",
            "--file",
            str(path),
            "--password-stdin",
        ],
        input="s3cret-pass\n",
    )
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "s3cret-pass" not in text and "$argon2id$" in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert read_users(path)["minji"].tenants == ("acme", "default")
    assert UserDirectory(path).verify("minji", "s3cret-pass") is not None
    assert UserDirectory(path).verify("minji", "wrong") is None
    listed = CliRunner().invoke(app, ["review-user", "list", "--file", str(path)])
    assert "minji" in listed.output and "acme, default" in listed.output
    removed = CliRunner().invoke(app, ["review-user", "remove", "minji", "--file", str(path)])
    assert removed.exit_code == 0 and read_users(path) == {}


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")} | {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], input=stdin, capture_output=True, text=True, env=env, timeout=120
    )


def test_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    path = str(tmp_path / "users.yaml")
    for args, expected in [
        (("review-user", "add", "Minji!", "--tenant", "acme", "--file", path, "--password-stdin"), "invalid user name"),
        (("review-user", "add", "minji", "--tenant", "Acme", "--file", path, "--password-stdin"), "invalid tenant id"),
        (("review-user", "add", "minji", "--tenant", "acme", "--file", path, "--password-stdin"), "at least 8"),
        (("review-user", "remove", "nobody", "--file", path), "no user 'nobody'"),
    ]:
        result = _cli(*args, stdin="short\n")
        assert result.returncode == 1, result
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    Path(path).write_text("users: [1, 2]\n")
    result = _cli("review-user", "list", "--file", path)
    assert result.returncode == 1 and "expected a mapping" in result.stderr and "Traceback" not in result.stderr
