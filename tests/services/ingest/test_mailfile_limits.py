"""Mail files are checked before they are read, and never read past the limits (no FIFO, device or huge file)."""

from __future__ import annotations

import mailbox
import os
import stat
from pathlib import Path

import pytest

from services.ingest.mailfiles import MailFileError, ReadLimits, read_limited, read_mail_files
from tests.conftest import EXAMPLES

SMALL = ReadLimits(message_bytes=1000, file_bytes=5000)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "mail.eml"
    os.mkfifo(fifo)
    with pytest.raises(MailFileError, match="a FIFO, not a regular file"):
        read_mail_files([fifo])


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused() -> None:
    with pytest.raises(MailFileError, match="a device, not a regular file"):
        read_mail_files([Path("/dev/zero")])


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    link = tmp_path / "zero.mbox"
    link.symlink_to("/dev/zero")
    with pytest.raises(MailFileError, match="a device"):
        read_mail_files([link])


def test_an_eml_over_the_message_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    with big.open("wb") as handle:
        handle.truncate(400 * 1024 * 1024)  # sparse: 400 MB that costs no disk
    with pytest.raises(MailFileError, match=r"419430400 bytes exceeds the message \(QUOTEFLOW_MAX_EMAIL_BYTES\) limit"):
        read_mail_files([big])


def test_the_limit_is_inclusive(tmp_path: Path) -> None:
    exact = tmp_path / "exact.eml"
    exact.write_bytes(b"x" * SMALL.message_bytes)
    assert read_mail_files([exact], SMALL)[0].messages == [b"x" * SMALL.message_bytes]
    exact.write_bytes(b"x" * (SMALL.message_bytes + 1))
    with pytest.raises(MailFileError, match="exceeds the message"):
        read_mail_files([exact], SMALL)


def test_a_file_that_grows_after_the_size_check_is_read_only_to_limit_plus_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grown = tmp_path / "grown.eml"
    grown.write_bytes(b"x" * 50_000)
    real_stat = os.stat_result
    reads: list[int] = []
    original_open = Path.open

    def small_stat(self: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        info = os.stat(self, follow_symlinks=follow_symlinks)
        return real_stat((stat.S_IFREG | 0o644, *info[1:6], 10, *info[7:]))  # st_size 10: "grew later"

    def spying_open(self: Path, *args: object, **kwargs: object) -> object:
        handle = original_open(self, *args, **kwargs)  # type: ignore[call-overload]
        read = handle.read

        def counted(size: int = -1) -> bytes:
            data: bytes = read(size)
            reads.append(len(data))
            return data

        handle.read = counted
        return handle

    monkeypatch.setattr(Path, "stat", small_stat)
    monkeypatch.setattr(Path, "open", spying_open)
    with pytest.raises(MailFileError, match="more than the message"):
        read_limited(grown, 100, "message")
    assert sum(reads) == 101


def test_an_mbox_over_the_file_limit_is_refused(tmp_path: Path) -> None:
    box = tmp_path / "big.mbox"
    box.write_bytes(b"From a\n" + b"line\n" * 1200)
    with pytest.raises(MailFileError, match="exceeds the mbox limit of 5000"):
        read_mail_files([box], SMALL)


def test_an_mbox_message_over_the_message_limit_is_refused(tmp_path: Path) -> None:
    box = tmp_path / "thread.mbox"
    box.write_bytes(b"From a\nSubject: ok\n\nhi\n\nFrom b\n" + b"y" * 2000 + b"\n")
    with pytest.raises(MailFileError, match="message 2 exceeds the message"):
        read_mail_files([box], SMALL)


def test_an_mbox_line_without_end_is_not_read_whole(tmp_path: Path) -> None:
    box = tmp_path / "oneline.mbox"
    box.write_bytes(b"From a\n" + b"z" * 4000)
    with pytest.raises(MailFileError, match="message 1 exceeds"):
        read_mail_files([box], SMALL)


MBOX_CASES = [
    b"From a@b Mon Jan 1 00:00:00 2026\nSubject: one\n\nbody\n\nFrom c@d Tue\nSubject: two\n\n>From quoted\nend",
    b"preamble\nFrom x\r\nA: 1\r\n\r\nb\r\n\r\nFrom y\r\nB: 2\r\n\r\n",
    b"From only\n\n\n\n",
    b"no from line at all\n",
    b"",
]


@pytest.mark.parametrize("content", MBOX_CASES)
def test_streamed_mbox_splits_like_the_mailbox_module(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "case.mbox"
    path.write_bytes(content)
    box = mailbox.mbox(str(path), create=False)
    try:
        expected = [bytes(box.get_bytes(key)) for key in box.iterkeys()]
    finally:
        box.close()
    assert read_mail_files([path])[0].messages == expected


def test_examples_read_as_before() -> None:
    for path in sorted(EXAMPLES.glob("*.mbox")):
        box = mailbox.mbox(str(path), create=False)
        try:
            expected = [bytes(box.get_bytes(key)) for key in box.iterkeys()]
        finally:
            box.close()
        assert read_mail_files([path])[0].messages == expected
