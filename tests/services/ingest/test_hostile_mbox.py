"""A single .eml with an envelope ``From `` line is not split at a body line that starts with "From "."""

from __future__ import annotations

from pathlib import Path

from services.ingest.mailfiles import read_mail_files

ENVELOPE = b"From kim@buyer.example Tue Mar 10 09:30:00 2026\n"
MAIL = b"From: kim@buyer.example\nSubject: RFQ\nMessage-ID: <m1@buyer>\n\nPlease quote 400 panels.\n"
BODY_FROM = b"From our side, the budget is 5 billion won.\nDelivery by 2026-04-30.\n"


def test_an_eml_with_a_from_line_in_its_body_stays_one_whole_message(tmp_path: Path) -> None:
    path = tmp_path / "one.eml"
    path.write_bytes(ENVELOPE + MAIL + BODY_FROM)
    [file] = read_mail_files([path])
    assert file.messages == [ENVELOPE + MAIL + BODY_FROM]


def test_an_eml_with_from_lines_in_two_bodies_still_splits_at_real_separators(tmp_path: Path) -> None:
    path = tmp_path / "saved.eml"
    path.write_bytes(ENVELOPE + MAIL + BODY_FROM + b"\n" + ENVELOPE + MAIL + BODY_FROM)
    [file] = read_mail_files([path])
    assert file.messages == [MAIL + BODY_FROM, MAIL + BODY_FROM]
