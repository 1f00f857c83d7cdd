"""The synthetic generator: reproducible by seed, valid mail, ground truth consistent with the text."""

from __future__ import annotations

import email
import email.utils
import hashlib
import json
import mailbox
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

from services.trainer.cases import load_cases
from services.trainer.synth.generator import fmt_money, generate_thread, korean_amount
from services.trainer.synth.writer import write_dataset
from shared.events import KeyFacts


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    write_dataset(12, 7, tmp_path / "a", progress=False, workers=1)
    write_dataset(12, 7, tmp_path / "b", progress=False, workers=1)
    write_dataset(12, 8, tmp_path / "c", progress=False, workers=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_a_thread_does_not_depend_on_n() -> None:
    assert generate_thread(3, 5).messages == generate_thread(3, 5).messages


def test_layout_and_expected_json_follow_the_spec(tmp_path: Path) -> None:
    result = write_dataset(10, 1, tmp_path, progress=False, workers=1)
    assert result.threads == 10
    cases = load_cases(tmp_path)
    assert len(cases) == 10
    indices = []
    for case in cases:
        data = json.loads((case.mbox.parent / "expected.json").read_text(encoding="utf-8"))
        KeyFacts.model_validate(data["expected"])  # every field, strict
        assert set(data["expected"]) == set(KeyFacts.model_fields)
        assert data["id"] == case.mbox.parent.name == f"synth-1-{data['index']:05d}"
        assert data["seed"] == 1
        indices.append(data["index"])
        # What is written is the generator's own truth, summary and tags for that thread, unchanged.
        assert data == generate_thread(1, data["index"]).expected
        assert data["language"] in ("ko", "en", "mixed")
        assert data["messages"] == len(mailbox.mbox(str(case.mbox)))
        english = data["language"] == "en"
        lines = data["summary"].splitlines()
        headings = [line for line in lines if re.match(r"\d+\. ", line)]
        assert [h.split(".")[0] for h in headings] == [str(n) for n in range(1, data["messages"] + 1)]
        assert all(h.endswith(":") for h in headings)
        assert lines[0] == headings[0] and lines[-1].startswith("Final terms: " if english else "최종 조건: ")
        senders = [lines[i + 1] for i, line in enumerate(lines) if line in headings]
        assert all(s.startswith("• From: " if english else "• 발신자: ") for s in senders), senders
        assert data["tags"][0] == ("trade" if english else "거래")
        assert len(data["tags"]) >= 2 and len(set(data["tags"])) == len(data["tags"])
        assert all(isinstance(tag, str) and tag for tag in data["tags"])
    assert sorted(indices) == list(range(10))


def _messages(index: int, seed: int = 0) -> list[EmailMessage]:
    return [
        email.message_from_bytes(raw, policy=policy.default)  # type: ignore[misc]
        for raw in generate_thread(seed, index).messages
    ]


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain", "html"))
    assert part is not None
    return str(part.get_content())


def test_messages_are_threaded_rfc5322_with_encoded_korean_subjects() -> None:
    seen_encoded = False
    for index in range(40):
        raw = generate_thread(0, index).messages
        parsed = _messages(index)
        for number, message in enumerate(parsed):
            assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(message["Message-ID"])), message["Message-ID"]
            assert email.utils.parsedate_to_datetime(str(message["Date"])).tzinfo is not None
            assert "@" in email.utils.parseaddr(str(message["From"]))[1], message["From"]
            if number:
                assert message["In-Reply-To"] == parsed[number - 1]["Message-ID"]
                assert parsed[0]["Message-ID"] in str(message["References"])
        seen_encoded |= any(b"=?utf-8?" in r.split(b"\n\n", 1)[0].lower() for r in raw)
    assert seen_encoded


def test_truth_prices_are_written_in_the_latest_supplier_message_that_states_them() -> None:
    """Net unit prices are stated verbatim (or follow from a stated % of a stated price)."""
    checked = 0
    for index in range(60):
        thread = generate_thread(0, index)
        facts = KeyFacts.model_validate(thread.expected["expected"])
        texts = "\n".join(_body(m) for m in _messages(index))
        for item in facts.items:
            assert item.product and item.product in texts
            if item.unit_price is not None and item.discount_percent is None:
                decimals = 0 if facts.currency in ("KRW", "JPY") else 2
                number = f"{item.unit_price:,.{decimals}f}"
                assert number in texts or korean_amount(item.unit_price).split(" ")[0] in texts
                checked += 1
    assert checked > 20


def test_feature_mix_over_many_threads() -> None:
    kinds, languages, events, html_only, forwarded = set(), set(), set(), False, False
    for index in range(200):
        expected = generate_thread(0, index).expected
        kinds.add(expected["kind"])
        languages.add(expected["language"])
        events.update(expected["events"])
        html_only |= expected["features"]["html_only"]
        forwarded |= expected["features"]["forwarded"]
    assert kinds == {"inquiry_only", "offer", "negotiation"}
    assert languages == {"ko", "en", "mixed"}
    assert {"discount", "counter_accept", "counter_reject", "quantity", "tiered_prices", "price_table"} <= events
    assert html_only and forwarded


def test_money_formats() -> None:
    import random

    rng = random.Random(0)
    assert korean_amount(500_000_000) == "5억"
    assert korean_amount(32_000_000) == "3,200만"
    assert korean_amount(150_000_000) == "1억 5,000만"
    assert fmt_money(21.8, "USD", "en", rng) == "US$21.80"
    assert {fmt_money(21.8, "USD", "en", rng) for _ in range(200)} == {"$21.80", "US$21.80", "USD 21.80", "21.80 USD"}


def test_cli_synth_and_synth_datasets(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["synth", "--n", "4", "--seed", "2", "--out", str(tmp_path / "t"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "wrote 4 threads" in result.output
    assert len(load_cases(tmp_path / "t")) == 4
    built = runner.invoke(app, ["synth-datasets", str(tmp_path / "t"), "--out", str(tmp_path / "d")])
    assert built.exit_code == 0, built.output
    records = (tmp_path / "d" / "extraction.train.jsonl").read_text(encoding="utf-8").splitlines()
    assert records and all(isinstance(json.loads(line), dict) for line in records)
    assert runner.invoke(app, ["synth", "--n", "0", "--out", str(tmp_path / "x")]).exit_code != 0
    assert runner.invoke(app, ["synth", "--agent", "--n", "1", "--out", str(tmp_path / "x")]).exit_code != 0


def test_korean_particles_follow_the_value() -> None:
    from services.trainer.synth.templates import resolve_particles

    assert resolve_particles("141만 7,000원(은)는 어렵습니다") == "141만 7,000원은 어렵습니다"
    assert resolve_particles("21.80달러(이)가 최선") == "21.80달러가 최선"
    assert resolve_particles("택배(으)로 발송") == "택배로 발송"
    assert resolve_particles("18개월(으)로 연장") == "18개월로 연장"
    assert resolve_particles("1년(으)로 연장") == "1년으로 연장"
    assert resolve_particles("100개(을)를 주문") == "100개를 주문"
    assert resolve_particles("25 units(으)로 변경") == "25 units로 변경"
