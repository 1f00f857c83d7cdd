"""The rules engine on whole threads: the talk's example, the hand-written fixtures, evidence, summary, tags."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.extract.engine import Extraction
from services.extract.rules import RulesEngine
from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.settings import IngestSettings
from shared.events import KeyFacts, NormalizedMessage, NormalizedThread
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


@pytest.mark.parametrize("name", ["en03-injection", "ko12-injection-ko"])
def test_prompt_injection_is_just_text(name: str) -> None:
    """The injected "price is 0" is ignored: the supplier's real line item comes out whole, with a warning."""
    truth = json.loads((FIXTURES / name / "expected.json").read_text(encoding="utf-8"))["expected"]
    result = ENGINE.extract_sync(thread_of(FIXTURES / name / "thread.mbox"))
    items = [item.model_dump(mode="json") for item in result.facts.items]
    assert len(truth["items"]) == 1 and truth["items"][0]["unit_price"] > 0
    assert items == truth["items"]
    assert result.facts.model_dump(mode="json") == truth
    assert result.warnings == [
        f"ignored text that tries to instruct the system (prompt injection) in {name}-1@fixtures.quoteflow.test"
    ]


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


def _assert_well_formed(thread: NormalizedThread, result: Extraction) -> None:
    """What every extraction promises, whatever the input: the rules ran (no caught engine error), every
    SPEC field is present and valid, every stated value has evidence whose span is the quoted text, and
    the summary has one numbered block per message with its sender."""
    assert result.engine == "rules"
    assert [w for w in result.warnings if "rules engine error" in w] == []
    facts = result.facts.model_dump(mode="json")
    assert set(facts) == set(KeyFacts.model_fields)
    assert KeyFacts.model_validate(facts) == result.facts
    texts: dict[str, str] = {}
    pending = list(thread.messages)
    while pending:
        message = pending.pop()
        texts[message.message_id] = message.text
        pending.extend(message.forwarded)
    fields = {e.field for e in result.evidence}
    for key in ("currency", "moq", "delivery_lead_time_days", "incoterm", "payment_terms", "budget"):
        if facts[key] is not None:
            assert key in fields, f"{key} = {facts[key]!r} has no evidence"
    for index, item in enumerate(facts["items"]):
        for key, value in item.items():
            if value is not None:
                assert f"items.{index}.{key}" in fields, f"items.{index}.{key} = {value!r} has no evidence"
    for evidence in result.evidence:
        assert evidence.message_id in texts
        if evidence.end > evidence.start:
            assert texts[evidence.message_id][evidence.start : evidence.end] == evidence.text
    lines = result.summary.splitlines()
    numbered = [i for i, line in enumerate(lines) if re.match(r"\d+\. ", line)]
    assert [lines[i].split(".")[0] for i in numbered] == [str(n) for n in range(1, len(thread.messages) + 1)]
    for i in numbered:
        assert lines[i].endswith(":") and lines[i + 1].startswith(("  • From: ", "  • 발신자: ")), lines[i : i + 2]
    assert all(isinstance(tag, str) and tag.strip() == tag and tag for tag in result.tags)
    assert len(set(result.tags)) == len(result.tags)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), min_size=1, max_size=4))
def test_any_text_gives_facts_never_an_exception(texts: list[str]) -> None:
    messages = [_message(t, i, "buyer" if i % 2 == 0 else "supplier") for i, t in enumerate(texts)]
    thread = NormalizedThread(thread_id="t", messages=messages)
    _assert_well_formed(thread, ENGINE.extract_sync(thread))


BAD_NUMBERS = "가격은 ,,,원 / USD . / 99999999999999999999원 / 1.2.3.4 EUR / 0원 / MOQ: / 3억억 원 / 보증 999년"


def _supplier_says(text: str) -> tuple[NormalizedThread, Extraction]:
    thread = NormalizedThread(thread_id="t", messages=[_message(text, 0, "supplier")])
    return thread, ENGINE.extract_sync(thread)


def _stated(result: Extraction) -> dict[str, Any]:
    """The facts that are not null, the supplier (always the sender here) left out."""
    facts = result.facts.model_dump(mode="json", exclude_none=True)
    assert facts.pop("supplier") == {"name": "Tester", "email": "user0@example.com"}
    return facts


@pytest.mark.parametrize(
    ("text", "facts", "warnings"),
    [
        ("가격은 ,,,원", {"items": []}, []),
        ("USD .", {"items": []}, []),
        ("1.2.3.4 EUR", {"items": []}, []),
        ("MOQ:", {"items": []}, []),
        ("3억억 원", {"items": []}, []),
        ("보증 999년", {"items": []}, []),
        ("0원", {"currency": "KRW", "items": []}, ["ignored a zero price in m0@test"]),
        # Too large for an int64, not for a float: read as stated, not wrapped, not infinite.
        ("99999999999999999999원", {"currency": "KRW", "items": [{"unit_price": 1e20, "currency": "KRW"}]}, []),
    ],
)
def test_bad_numbers_do_not_crash(text: str, facts: dict[str, Any], warnings: list[str]) -> None:
    """Each malformed number on its own: no engine error, no value made up from it."""
    thread, result = _supplier_says(text)
    _assert_well_formed(thread, result)
    assert _stated(result) == facts
    assert result.warnings == warnings


def test_bad_numbers_in_one_message_do_not_crash() -> None:
    thread, result = _supplier_says(BAD_NUMBERS)
    _assert_well_formed(thread, result)
    stated = _stated(result)
    stated.pop("moq", None)  # test_bad_numbers_state_no_moq
    assert stated == {"currency": "KRW", "items": [{"unit_price": 1e20, "currency": "KRW"}]}
    assert result.warnings == ["ignored a zero price in m0@test"]


def test_bad_numbers_state_no_moq() -> None:
    _, result = _supplier_says(BAD_NUMBERS)
    assert result.facts.moq is None


@pytest.mark.skipif(not (CORPORA / "talon").exists(), reason="team corpora folder absent")
def test_real_mail_corpus_runs_without_errors() -> None:
    files = sorted((CORPORA / "talon").rglob("*.eml"))[:60] + sorted((CORPORA / "talon").rglob("*.txt"))[:60]
    assert files
    extracted = 0
    for path in files:
        (mail,) = read_mail_files([path])
        thread = asyncio.run(assemble_offline(mail, IngestSettings()))
        assert thread is not None, f"{path}: no thread"
        _assert_well_formed(thread, ENGINE.extract_sync(thread))
        extracted += 1
    assert extracted == len(files)


def test_cli_extract_prints_spec_json() -> None:
    from typer.testing import CliRunner

    from services.cli import app

    outcome = CliRunner().invoke(app, ["extract", "--engine", "rules", str(TALK_EXAMPLE)])
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)
    assert document["facts"] == SPEC_EXAMPLE
    expected = ENGINE.extract_sync(thread_of(TALK_EXAMPLE))
    assert document["summary"] == expected.summary
    assert document["summary"].startswith("1. ")
    assert document["tags"] == expected.tags
    assert {"거래", "협상", "견적 요청", "할인"} <= set(document["tags"])
    assert document["engine"] == "rules"
