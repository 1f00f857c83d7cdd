"""The rules engine on whole threads: the talk's example, the hand-written fixtures, evidence, summary, tags."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.extract.rules import RulesEngine
from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.settings import IngestSettings
from shared.events import NormalizedMessage, NormalizedThread
from tests.conftest import SPEC_EXAMPLE_FACTS
from tests.services.extract.rules.scoring import counts, f1, mismatches

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "fixtures" / "threads"
TALK_EXAMPLE = REPO / "examples" / "talk-x-product.mbox"
CORPORA = REPO.parent / "shared" / "corpora"
FIXTURE_DIRS = sorted(p for p in FIXTURES.iterdir() if (p / "expected.json").exists())

SPEC_EXAMPLE: dict[str, Any] = SPEC_EXAMPLE_FACTS

ENGINE = RulesEngine()


def thread_of(path: Path) -> NormalizedThread:
    file = read_mail_files([path])[0]
    thread = asyncio.run(assemble_offline(file, IngestSettings()))
    assert thread is not None
    return thread


def test_talk_example_gives_exactly_the_spec_example() -> None:
    facts = ENGINE.extract_sync(thread_of(TALK_EXAMPLE)).facts.model_dump(mode="json")
    assert facts == SPEC_EXAMPLE


def test_fixture_set_is_large_and_varied() -> None:
    assert len(FIXTURE_DIRS) >= 30
    names = {p.name[:2] for p in FIXTURE_DIRS}
    assert names == {"ko", "en"}


@pytest.mark.parametrize("folder", FIXTURE_DIRS, ids=[p.name for p in FIXTURE_DIRS])
def test_fixture_thread(folder: Path) -> None:
    """Each hand-written thread scores well on its own; the messages say what differs."""
    truth = json.loads((folder / "expected.json").read_text(encoding="utf-8"))["expected"]
    predicted = ENGINE.extract_sync(thread_of(folder / "thread.mbox")).facts.model_dump(mode="json")
    score = f1(*counts(predicted, truth))
    assert score >= 0.75, "\n".join(mismatches(predicted, truth))


def test_key_fact_f1_over_all_fixtures() -> None:
    total = [0, 0, 0]
    for folder in FIXTURE_DIRS:
        truth = json.loads((folder / "expected.json").read_text(encoding="utf-8"))["expected"]
        predicted = ENGINE.extract_sync(thread_of(folder / "thread.mbox")).facts.model_dump(mode="json")
        total = [a + b for a, b in zip(total, counts(predicted, truth), strict=True)]
    assert f1(*total) >= 0.90


def test_every_value_has_evidence_with_a_real_span() -> None:
    for folder in FIXTURE_DIRS:
        thread = thread_of(folder / "thread.mbox")
        result = ENGINE.extract_sync(thread)
        texts: dict[str, str] = {}
        pending = list(thread.messages)
        while pending:
            message = pending.pop()
            texts[message.message_id] = message.text
            pending.extend(message.forwarded)
        fields = {e.field for e in result.evidence}
        facts = result.facts.model_dump()
        for key in ("currency", "moq", "delivery_lead_time_days", "incoterm", "payment_terms", "budget"):
            if facts[key] is not None:
                assert key in fields, f"{folder.name}: {key} has no evidence"
        for index, item in enumerate(facts["items"]):
            for key, value in item.items():
                if value is not None:
                    assert f"items.{index}.{key}" in fields, f"{folder.name}: items.{index}.{key} has no evidence"
        for evidence in result.evidence:
            assert evidence.message_id in texts
            if evidence.end > evidence.start:
                assert texts[evidence.message_id][evidence.start : evidence.end] == evidence.text


def test_prompt_injection_is_just_text() -> None:
    for name in ("en03-injection", "ko12-injection-ko"):
        result = ENGINE.extract_sync(thread_of(FIXTURES / name / "thread.mbox"))
        assert all(item.unit_price for item in result.facts.items)
        assert any("inject" in w for w in result.warnings)


def test_inquiry_only_threads_have_no_prices() -> None:
    for name in ("en02-inquiry-only", "ko08-inquiry-only-ko"):
        facts = ENGINE.extract_sync(thread_of(FIXTURES / name / "thread.mbox")).facts
        assert facts.items and all(item.unit_price is None for item in facts.items)
        assert facts.supplier is None


def test_summary_follows_the_talk_format_in_the_thread_language() -> None:
    korean = ENGINE.extract_sync(thread_of(TALK_EXAMPLE))
    lines = korean.summary.splitlines()
    assert lines[0].startswith("1. ") and lines[1].startswith("  • 발신자: 김서연 (구매자, 한빛무역)")
    assert "최종 조건:" in korean.summary and "9,500원" in korean.summary
    english = ENGINE.extract_sync(thread_of(FIXTURES / "en01-valves-counter" / "thread.mbox"))
    assert "From: Daniel Lee (supplier, Seoul Valve Co., Ltd.)" in english.summary
    assert "Final terms:" in english.summary


def test_tags_come_from_the_taxonomy() -> None:
    tags = ENGINE.extract_sync(thread_of(TALK_EXAMPLE)).tags
    assert {"거래", "협상", "견적 요청", "할인"} <= set(tags)
    energy = ENGINE.extract_sync(thread_of(FIXTURES / "ko03-energy-budget" / "thread.mbox")).tags
    assert {"에너지", "긴급"} <= set(energy)
    english = ENGINE.extract_sync(thread_of(FIXTURES / "en12-html-table-en" / "thread.mbox")).tags
    assert "trade" in english and "quote request" in english


def test_async_extract_matches_sync() -> None:
    thread = thread_of(TALK_EXAMPLE)
    result = asyncio.run(ENGINE.extract(thread))
    assert result.engine == "rules"
    assert result.facts == ENGINE.extract_sync(thread).facts


def _message(text: str, index: int = 0, role: str = "unknown") -> NormalizedMessage:
    return NormalizedMessage(
        message_id=f"m{index}@test",
        sender_name="Tester",
        sender_email=f"user{index}@example.com",
        role=role,  # type: ignore[arg-type]
        date=datetime(2026, 1, 1, tzinfo=UTC),
        text=text,
        content_hash=f"h{index}",
    )


def test_empty_thread_needs_review() -> None:
    result = ENGINE.extract_sync(NormalizedThread(thread_id="t", messages=[]))
    assert result.needs_review and result.facts.items == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), min_size=1, max_size=4))
def test_any_text_gives_facts_never_an_exception(texts: list[str]) -> None:
    messages = [_message(t, i, "buyer" if i % 2 == 0 else "supplier") for i, t in enumerate(texts)]
    result = ENGINE.extract_sync(NormalizedThread(thread_id="t", messages=messages))
    assert not any("rules engine error" in w for w in result.warnings)


def test_bad_numbers_do_not_crash() -> None:
    text = "가격은 ,,,원 / USD . / 99999999999999999999원 / 1.2.3.4 EUR / 0원 / MOQ: / 3억억 원 / 보증 999년"
    result = ENGINE.extract_sync(NormalizedThread(thread_id="t", messages=[_message(text, 0, "supplier")]))
    assert not any("rules engine error" in w for w in result.warnings)


@pytest.mark.skipif(not (CORPORA / "talon").exists(), reason="team corpora folder absent")
def test_real_mail_corpus_runs_without_errors() -> None:
    files = sorted((CORPORA / "talon").rglob("*.eml"))[:60] + sorted((CORPORA / "talon").rglob("*.txt"))[:60]
    assert files
    for path in files:
        try:
            mail = read_mail_files([path])
        except (OSError, ValueError):
            continue
        thread = asyncio.run(assemble_offline(mail[0], IngestSettings()))
        if thread is None:
            continue
        result = ENGINE.extract_sync(thread)
        assert not any("rules engine error" in w for w in result.warnings), path


def test_cli_extract_prints_spec_json() -> None:
    from typer.testing import CliRunner

    from services.cli import app

    outcome = CliRunner().invoke(app, ["extract", "--engine", "rules", str(TALK_EXAMPLE)])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    assert document["facts"] == SPEC_EXAMPLE
    assert document["summary"] and document["tags"] and document["engine"] == "rules"
