"""Reading mail files: .eml (one message), .mbox (one thread), maildir folders (one thread), folders of them."""

from __future__ import annotations

import logging
import mailbox
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

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


def is_maildir(path: Path) -> bool:
    """A maildir folder has cur/ and new/ subfolders."""
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def _read_mbox(path: Path) -> list[bytes]:
    box = mailbox.mbox(str(path), create=False)
    try:
        return [bytes(box.get_bytes(key)) for key in box.iterkeys()]
    finally:
        box.close()


def _read_maildir(path: Path) -> list[bytes]:
    """Messages of a maildir in delivery order (file names start with the delivery time)."""
    files = sorted(
        (p for sub in ("new", "cur") for p in (path / sub).iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    return [p.read_bytes() for p in files]


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
            if candidate.is_file() and candidate.suffix.lower() in (".eml", ".mbox"):
                found.append(candidate)
        return found
    if path.exists():
        return [path]
    raise FileNotFoundError(f"no such file or folder: {path}")


def read_mail_files(paths: Iterable[Path]) -> list[MailFile]:
    """Expand folders; read .eml, .mbox and maildirs (one thread each). Unknown extensions are read as .eml."""
    files: list[Path] = []
    for path in paths:
        files.extend(_expand(Path(path)))
    result = []
    for file in files:
        try:
            if file.is_dir():
                messages = _read_maildir(file)
            elif file.suffix.lower() == ".mbox" or _looks_like_mbox(file):
                messages = _read_mbox(file)
            else:
                messages = [file.read_bytes()]
        except (OSError, mailbox.Error) as exc:
            raise OSError(f"cannot read {file}: {exc}") from exc
        result.append(MailFile(path=file, messages=messages))
    return result


def _looks_like_mbox(path: Path) -> bool:
    """An mbox saved without the .mbox suffix: starts with a 'From ' line and holds several messages."""
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
            if head != b"From ":
                return False
            return sum(1 for line in handle if line.startswith(b"From ")) >= 1
    except OSError:
        return False


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
    return result
