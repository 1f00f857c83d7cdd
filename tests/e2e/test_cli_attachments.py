"""The commands on Outlook files with attachments: `quoteflow extract` prints the attachment's items, and
`quoteflow process` quotes a .msg whose prices are only in its attached PDF, on the embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app
from tests.support import attachment_files as files
from tests.support.outlook_files import build_msg


def _msg(tmp_path: Path) -> Path:
    path = tmp_path / "quote-reply.msg"
    path.write_bytes(
        build_msg(
            sender_name="박준호",
            sender_email=files.SUPPLIER[1],
            to=[files.BUYER],
            subject="RE: X 제품 견적 요청",
            body="안녕하세요.\r\n첨부된 견적서를 확인해주시기 바랍니다.\r\n\r\n박준호 드림",
            date=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
            message_id="<answer-1@daeyang-parts.co.kr>",
            attachments=(("견적서.pdf", files.PDF, files.pdf_quote(files.KO_QUOTE)),),
        )
    )
    return path


def test_extract_reads_the_msg_and_its_attachment(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["extract", "--engine", "rules", str(_msg(tmp_path))])
    assert outcome.exit_code == 0, outcome.output
    items = json.loads(outcome.stdout)["facts"]["items"]
    assert [(i["product"], i["quantity"], i["unit_price"], i["currency"]) for i in items] == [
        ("X 제품", 100, 9500, "KRW"),
        ("Y 부품", 50, 12000, "KRW"),
    ]


@pytest.mark.e2e
def test_process_quotes_a_msg_from_its_attached_pdf(tmp_path: Path) -> None:
    msg = _msg(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env["QUOTEFLOW_LOG_LEVEL"] = "WARNING"
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "process", str(msg), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    facts = json.loads((out / msg.stem / "facts.json").read_text(encoding="utf-8"))
    assert [i["unit_price"] for i in facts["facts"]["items"]] == [9500, 12000]
    assert "1,550,000" in (out / msg.stem / "quote.md").read_text(encoding="utf-8")
