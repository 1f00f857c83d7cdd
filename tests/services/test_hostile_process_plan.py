"""`process` never drops a conversation unsaid: a file holding two threads is reported, not half-written."""

from __future__ import annotations

from pathlib import Path

from services.ingest.mailfiles import MailFile, read_mail_files
from services.ingest.settings import IngestSettings
from services.pipeline import plan_outcomes
from tests.conftest import EXAMPLES


async def test_a_file_with_two_conversations_says_so_and_is_not_ok(tmp_path: Path) -> None:
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0].messages
    inquiry = (EXAMPLES / "single-inquiry.eml").read_bytes()
    files = [MailFile(path=tmp_path / "both.mbox", messages=[*valves, inquiry])]
    [outcome] = await plan_outcomes(files, IngestSettings())
    assert outcome.note == "holds 2 conversations, not one: nothing written (one per file)"
    assert not outcome.ok
    assert outcome.finished


async def test_a_file_whose_second_conversation_continues_another_file_is_reported_too(tmp_path: Path) -> None:
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0].messages
    inquiry = (EXAMPLES / "single-inquiry.eml").read_bytes()
    files = [
        MailFile(path=tmp_path / "a.mbox", messages=valves[:2]),
        MailFile(path=tmp_path / "b.mbox", messages=[inquiry, *valves[2:]]),
    ]
    first, second = await plan_outcomes(files, IngestSettings())
    assert (first.note, first.messages) == (None, 4)
    assert second.note == "holds 2 conversations, not one: nothing written (one per file)"


async def test_a_file_with_one_conversation_is_planned_as_before(tmp_path: Path) -> None:
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0].messages
    [outcome] = await plan_outcomes([MailFile(path=tmp_path / "v.mbox", messages=valves)], IngestSettings())
    assert (outcome.note, outcome.messages) == (None, 4)


async def test_a_file_repeating_a_conversation_of_a_refused_file_writes_it(tmp_path: Path) -> None:
    valves = read_mail_files([EXAMPLES / "valves-en.mbox"])[0].messages
    inquiry = (EXAMPLES / "single-inquiry.eml").read_bytes()
    files = [
        MailFile(path=tmp_path / "both.mbox", messages=[*valves, inquiry]),
        MailFile(path=tmp_path / "valves.mbox", messages=valves),
    ]
    refused, repeat = await plan_outcomes(files, IngestSettings())
    assert refused.note == "holds 2 conversations, not one: nothing written (one per file)"
    assert (repeat.note, repeat.messages, repeat.settled) == (None, 4, False)
