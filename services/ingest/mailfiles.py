"""Reading mail files: .eml and Outlook .msg (one message), .mbox (one thread), maildir folders (one thread),
folders of them. A .msg (or a bare winmail.dat) is converted to MIME by normalization (:mod:`.outlook`)."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from services.ingest.normalize import BadEmail, normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from shared.events import NormalizedThread
from shared.store import MemoryStore, Store

logger = logging.getLogger(__name__)


@dataclass
class MailFile:
    """One input thread: a .eml (one message), a .mbox or a maildir (their messages, in order)."""

    path: Path
    messages: list[bytes]

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass
class Rejected:
    """A message of a file that is not an e-mail, and why (the service would dead-letter it)."""

    path: Path
    index: int
    reason: str


@dataclass
class OfflineResult:
    """The thread built from one file, and the messages that were skipped."""

    thread: NormalizedThread | None
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    """Every thread the file's messages went to (in order) and its version after them: more than one
    means ``thread`` is only the last."""


def is_maildir(path: Path) -> bool:
    """A maildir folder has cur/ and new/ subfolders."""
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


MBOX_MAX_BYTES = 256 * 1024 * 1024
"""Largest .mbox (or maildir) the CLI reads: all of a thread's messages are held in memory."""


MESSAGE = "message (QUOTEFLOW_MAX_EMAIL_BYTES)"
MAIL_SUFFIXES = (".eml", ".mbox", ".msg")
"""What a folder scan picks up (besides maildirs and winmail.dat files)."""


class MailFileError(OSError):
    """A mail file that cannot be read safely (too large, not a regular file); the message says why."""


@dataclass(frozen=True)
class ReadLimits:
    """How much the CLI reads: per message (ingest's max_email_bytes) and per mbox or maildir."""

    message_bytes: int
    file_bytes: int = MBOX_MAX_BYTES

    @classmethod
    def from_settings(cls, settings: IngestSettings | None = None) -> ReadLimits:
        settings = settings or IngestSettings()
        return cls(message_bytes=settings.max_email_bytes, file_bytes=max(MBOX_MAX_BYTES, settings.max_email_bytes))


def open_regular(path: Path, limit: int, what: str = "file") -> BinaryIO:
    """Open a regular file no larger than ``limit`` bytes for reading.

    Checked with stat before anything is read: a FIFO would block, a device (/dev/zero)
    never ends, and a huge file would be read whole before any size check.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise MailFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "not a regular file"
        )
        raise MailFileError(f"cannot read {path}: {kind}, not a regular file")
    if info.st_size > limit:
        raise MailFileError(f"cannot read {path}: {info.st_size} bytes exceeds the {what} limit of {limit}")
    try:
        return path.open("rb")
    except OSError as exc:
        raise MailFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_limited(path: Path, limit: int, what: str = "file") -> bytes:
    """A regular file's bytes, refusing it when it is (or grows) larger than ``limit``: at most limit + 1 are read."""
    with open_regular(path, limit, what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise MailFileError(f"cannot read {path}: more than the {what} limit of {limit} bytes")
    return data


_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:")
"""A header field line (name, colon): what follows a real ``From_`` separator."""


def _iter_mbox(
    handle: BinaryIO, path: Path, limits: ReadLimits, *, header_after_separator: bool = False
) -> Iterator[bytes]:
    """Messages of an mbox, read line by line (as :class:`mailbox.mbox` splits them), never past the limits.

    A message starts after a line beginning with ``From ``; a blank line right before the
    next ``From `` line belongs to the separator. Text before the first ``From `` is ignored.
    With ``header_after_separator``, a later ``From `` line not followed by a header line is
    body text: how a single .eml with an envelope line is read, whose unescaped body line
    "From our side, ..." used to cut the mail short (the rest refused as 'no e-mail').
    """
    total = size = index = 0
    current: list[bytes] | None = None
    ahead: bytes | None = None

    def read_line() -> bytes:
        nonlocal total
        line = handle.readline(limits.message_bytes + 2)
        total += len(line)
        if total > limits.file_bytes:
            raise MailFileError(f"cannot read {path}: more than the mbox limit of {limits.file_bytes} bytes")
        return line

    while True:
        line, ahead = (ahead, None) if ahead is not None else (read_line(), None)
        separator = not line
        if line.startswith(b"From "):
            if current is None or not header_after_separator:
                separator = True
            else:
                ahead = read_line()
                separator = bool(_HEADER_LINE.match(ahead))
        if separator:
            if current is not None:
                if current and current[-1] == b"\n":
                    current.pop()
                yield b"".join(current)
            if not line:
                return
            current, size, index = [], 0, index + 1
            continue
        if current is None:
            continue
        size += len(line)
        if size > limits.message_bytes:
            raise MailFileError(
                f"cannot read {path}: message {index} exceeds the {MESSAGE} limit of {limits.message_bytes} bytes"
            )
        current.append(line)


def _read_mbox(path: Path, limits: ReadLimits) -> list[bytes]:
    with open_regular(path, limits.file_bytes, "mbox") as handle:
        return list(_iter_mbox(handle, path, limits))


def _read_maildir(path: Path, limits: ReadLimits) -> list[bytes]:
    """Messages of a maildir in delivery order (file names start with the delivery time)."""
    files = sorted(
        (p for sub in ("new", "cur") for p in (path / sub).iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    messages, total = [], 0
    for file in files:
        messages.append(read_limited(file, limits.message_bytes, MESSAGE))
        total += len(messages[-1])
        if total > limits.file_bytes:
            raise MailFileError(f"cannot read {path}: more than the maildir limit of {limits.file_bytes} bytes")
    return messages


def _expand(path: Path) -> list[Path]:
    if is_maildir(path):
        return [path]
    if path.is_dir():
        found: list[Path] = []
        maildirs = sorted(p for p in path.rglob("*") if is_maildir(p))
        found.extend(maildirs)
        for candidate in sorted(path.rglob("*")):
            if any(candidate.is_relative_to(m) for m in maildirs):
                continue
            if candidate.is_file() and (
                candidate.suffix.lower() in MAIL_SUFFIXES or candidate.name.lower() == "winmail.dat"
            ):
                found.append(candidate)
        return found
    if path.exists() or path.is_symlink():
        return [path]
    raise FileNotFoundError(f"no such file or folder: {path}")


def read_mail_files(paths: Iterable[Path], limits: ReadLimits | None = None) -> list[MailFile]:
    """Expand folders; read .eml, .msg, .mbox and maildirs (one thread each). Unknown extensions are read as .eml.

    Nothing is read past ``limits`` (default: QUOTEFLOW_MAX_EMAIL_BYTES per message, MBOX_MAX_BYTES
    per mbox or maildir), and only regular files are read: MailFileError says which file and why.
    """
    limits = limits or ReadLimits.from_settings()
    files: list[Path] = []
    for path in paths:
        files.extend(_expand(Path(path)))
    result = []
    for file in files:
        try:
            if file.is_dir():
                messages = _read_maildir(file, limits)
            elif file.suffix.lower() == ".mbox":
                messages = _read_mbox(file, limits)
            else:
                messages = _read_eml_or_mbox(file, limits)
        except (MailFileError, FileNotFoundError):
            raise
        except OSError as exc:
            raise MailFileError(f"cannot read {file}: {exc.strerror or exc}") from exc
        result.append(MailFile(path=file, messages=messages))
    return result


def _read_eml_or_mbox(path: Path, limits: ReadLimits) -> list[bytes]:
    """One message, or an mbox saved without the .mbox suffix (starts with 'From ', holds several messages)."""
    with open_regular(path, sys.maxsize) as handle:  # only the regular-file check: the limit depends on the kind
        if handle.read(5) == b"From " and os.fstat(handle.fileno()).st_size <= limits.file_bytes:
            handle.seek(0)
            messages = list(_iter_mbox(handle, path, limits, header_after_separator=True))
            if len(messages) >= 2:
                return messages
    return [read_limited(path, limits.message_bytes, MESSAGE)]


async def assemble_offline(
    file: MailFile, settings: IngestSettings, store: Store | None = None
) -> NormalizedThread | None:
    """The thread ingest would publish for this file, built without a broker (store: in memory by default).

    Messages that are not e-mail are skipped here; the service dead-letters them.
    """
    return (await assemble_offline_detailed(file, settings, store)).thread


async def assemble_offline_detailed(
    file: MailFile,
    settings: IngestSettings,
    store: Store | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
) -> OfflineResult:
    """Like :func:`assemble_offline`, also reporting rejected and duplicate messages."""
    repository = ThreadRepository(store or MemoryStore(), settings)
    result = OfflineResult(thread=None)
    for arrival, raw in enumerate(file.messages):
        try:
            incoming = normalize_raw(raw, settings, arrival=arrival)
        except BadEmail as exc:
            rejected = Rejected(path=file.path, index=arrival, reason=str(exc))
            result.rejected.append(rejected)
            if on_reject is not None:
                on_reject(rejected)
            continue
        if await repository.is_duplicate(incoming):
            result.duplicates += 1
            continue
        result.thread = await repository.assemble(incoming)
        await repository.commit(incoming, result.thread)
        result.versions[result.thread.thread_id] = result.thread.version
    return result
