"""`quoteflow quote FACTS.json`: documents without a broker, one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.cli_support import UserError
from services.quote.commands import register_commands
from tests.services.quote.conftest import QUOTE_FIXTURES


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register_commands(application)

    @application.callback()
    def main() -> None:
        """Keep `quote` a named sub-command, as in the real `quoteflow` app."""

    return application


def _run(app: typer.Typer, *args: str, stdin: str | None = None) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["quote", *args], input=stdin)
    return result.exit_code, result.stdout, result.exception


def test_markdown_of_a_facts_event(app: typer.Typer) -> None:
    code, out, error = _run(app, str(QUOTE_FIXTURES / "talk_ko.facts.json"), "--date", "2026-03-03")
    assert (code, error) == (0, None)
    assert out == (QUOTE_FIXTURES / "talk_ko.md").read_text(encoding="utf-8").replace("Q-2026-000123", "Q-2026-DRAFT")


def test_extract_output_and_bare_facts_from_stdin(app: typer.Typer) -> None:
    event = json.loads((QUOTE_FIXTURES / "valves_en.facts.json").read_text(encoding="utf-8"))
    event["source"] = "examples/valves-en.mbox"  # `quoteflow extract` adds keys beside the event
    bare = {"currency": "KRW", "items": [{"product": "볼트", "quantity": 3, "unit_price": 1000}]}
    stdin = json.dumps(event) + "\n" + json.dumps(bare, ensure_ascii=False)
    code, out, error = _run(app, "-", "--number", "Q-2026-000777", "--revision", "2", stdin=stdin)
    assert (code, error) == (0, None)
    assert "# Quotation" in out and "$8,360.00" in out
    assert "# 견적서" in out and "3,300원" in out  # Hangul in bare facts: a 견적서
    assert out.count("Q-2026-000777") == 2


def test_html_json_and_pdf_files(app: typer.Typer, tmp_path: Path) -> None:
    facts = str(QUOTE_FIXTURES / "valves_en.facts.json")
    assert _run(app, facts, "-f", "html", "-o", str(tmp_path / "q.html"))[0] == 0
    assert (tmp_path / "q.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert _run(app, facts, "-f", "json", "-o", str(tmp_path / "q.json"), "--language", "ko")[0] == 0
    event = json.loads((tmp_path / "q.json").read_text(encoding="utf-8"))
    assert (event["language"], event["total"], event["needs_review"]) == ("ko", "8360.00", False)
    assert event["issue_date"] is not None and event["valid_until"] > event["issue_date"]
    assert (event["vat_mode"], event["pdf_path"]) == ("exempt", None)
    assert _run(app, facts, "-f", "pdf", "-o", str(tmp_path / "q.pdf"))[0] == 0
    assert (tmp_path / "q.pdf").read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["/no/such/facts.json"], None, "cannot read"),
        (["-"], "{", "not valid JSON"),
        (["-"], "[1, 2]", "expected a JSON object"),
        (["-"], '{"currency": 5}', "not key facts: currency"),
        (["-"], "", "no JSON document"),
        (["-", "--format", "docx"], "{}", "unknown --format"),
        (["-", "--format", "pdf"], "{}", "give --out"),
        (["-", "--date", "03/03/2026"], "{}", "invalid --date"),
        (["-", "--vat-mode", "sometimes"], "{}", "invalid option: vat_mode"),
        (["-", "--language", "fr"], "{}", "unknown --language"),
    ],
)
def test_bad_input_is_one_clear_error(app: typer.Typer, args: list[str], stdin: str | None, message: str) -> None:
    code, _, error = _run(app, *args, stdin=stdin)
    assert code != 0
    assert isinstance(error, UserError), error
    assert message in str(error)
    assert "\n" not in str(error)
