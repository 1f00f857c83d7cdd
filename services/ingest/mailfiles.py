"""Reading mail files: .eml (one message), .mbox (one thread), folders of them."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from services.ingest.normalize import BadEmail, normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from shared.events import NormalizedThread
from shared.store import MemoryStore, Store


@dataclass
class MailFile:
    """One input thread: a .eml (one message) or a .mbox (its messages, in order)."""

    path: Path
    messages: list[bytes]

    @property
    def name(self) -> str:
        return self.path.stem


def read_mail_files(paths: Iterable[Path]) -> list[MailFile]:
    """Expand folders; read .eml and .mbox (one thread each). Unknown extensions are read as .eml."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in (".eml", ".mbox")))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    result = []
    for file in files:
        if file.suffix.lower() == ".mbox":
            box = mailbox.mbox(str(file), create=False)
            try:
                messages = [bytes(m.as_bytes()) for m in box]
            finally:
                box.close()
        else:
            messages = [file.read_bytes()]
        result.append(MailFile(path=file, messages=messages))
    return result


async def assemble_offline(
    file: MailFile, settings: IngestSettings, store: Store | None = None
) -> NormalizedThread | None:
    """The thread ingest would publish for this file, built without a broker (store: in memory by default).

    Messages that are not e-mail are skipped here; the service dead-letters them.
    """
    repository = ThreadRepository(store or MemoryStore(), settings)
    thread = None
    for arrival, raw in enumerate(file.messages):
        try:
            incoming = normalize_raw(raw, settings, arrival=arrival)
        except BadEmail:
            continue
        if await repository.is_duplicate(incoming):
            continue
        thread = await repository.assemble(incoming)
        await repository.commit(incoming, thread)
    return thread
