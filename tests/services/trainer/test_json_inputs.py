"""JSON inputs of the trainer's commands accept a UTF-8 byte-order mark and are bounded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.cli_support import UserError
from services.trainer import cases as layout
from services.trainer.evaluation.commands import _load_old
from tests.conftest import EXAMPLES

BOM = b"\xef\xbb\xbf"


def test_compare_metrics_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_bytes(BOM + json.dumps({"engines": {}}).encode())
    assert _load_old(path) == {"engines": {}}


def test_compare_refuses_a_fifo_in_one_line(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "metrics.json"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match=r"--compare: cannot read .*a FIFO, not a regular file"):
        _load_old(fifo)


def _case(tmp_path: Path, expected: bytes) -> Path:
    case = tmp_path / "case-1"
    case.mkdir()
    shutil.copy(EXAMPLES / "valves-en.mbox", case / layout.MBOX_NAME)
    (case / layout.EXPECTED_NAME).write_bytes(expected)
    return case


def test_expected_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    case = _case(tmp_path, BOM + json.dumps({"expected": {"currency": "USD"}}).encode())
    assert layout.load_case(case).expected.currency == "USD"


def test_an_oversized_expected_json_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "EXPECTED_MAX_BYTES", 10)
    case = _case(tmp_path, json.dumps({"expected": {"currency": "USD"}}).encode())
    with pytest.raises(layout.LayoutError, match=r"exceeds the expected\.json limit of 10"):
        layout.load_case(case)
