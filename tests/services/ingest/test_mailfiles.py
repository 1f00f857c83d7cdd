"""Reading .eml, .mbox and maildir, and `quoteflow normalize` on them (no broker)."""

from __future__ import annotations

import json
import mailbox
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.ingest.mailfiles import is_maildir, read_mail_files
from tests.conftest import EXAMPLES
from tests.services.ingest.conftest import fixture_path


def _maildir(tmp_path: Path) -> Path:
    folder = tmp_path / "Inbox"
    box = mailbox.Maildir(str(folder), create=True)
    for path in sorted(fixture_path("thread_out_of_order").glob("*.eml")):
        box.add(mailbox.MaildirMessage(path.read_bytes()))
    box.close()
    return folder


def test_maildir_is_one_thread(tmp_path: Path) -> None:
    folder = _maildir(tmp_path)
    assert is_maildir(folder)
    (file,) = read_mail_files([folder])
    assert len(file.messages) == 4


def test_folders_expand_to_eml_mbox_and_maildirs(tmp_path: Path) -> None:
    _maildir(tmp_path)
    shutil.copy(EXAMPLES / "valves-en.mbox", tmp_path / "valves.mbox")
    shutil.copy(fixture_path("ko_euckr_inquiry.eml"), tmp_path / "one.eml")
    (tmp_path / "notes.md").write_text("not mail")
    files = read_mail_files([tmp_path])
    assert sorted(f.path.name for f in files) == ["Inbox", "one.eml", "valves.mbox"]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_mail_files([tmp_path / "absent.eml"])


def test_normalize_command_prints_thread_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["normalize", "--compact", str(_maildir(tmp_path))])
    assert result.exit_code == 0, result.output
    thread = json.loads(result.stdout.strip().splitlines()[-1])
    assert thread["version"] == 4
    assert [m["role"] for m in thread["messages"]] == ["buyer", "supplier", "buyer", "supplier"]


def test_normalize_command_own_domain(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "normalize",
            "--compact",
            "--own-domain",
            "hanbit-trading.co.kr",
            "--own-role",
            "buyer",
            str(fixture_path("thread_out_of_order")),
        ],
    )
    assert result.exit_code == 0, result.output
    for line in result.stdout.strip().splitlines():
        thread = json.loads(line)
        for message in thread["messages"]:
            expected = "buyer" if message["sender_email"].endswith("hanbit-trading.co.kr") else "supplier"
            assert message["role"] == expected


def test_normalize_command_reports_rejected_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00\x01 not a mail")
    result = CliRunner().invoke(app, ["normalize", str(bad)])
    assert result.exit_code != 0
