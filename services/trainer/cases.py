"""The thread-directory layout of SPEC.md §2: ``DIR/<id>/thread.mbox`` + ``DIR/<id>/expected.json``.

``quoteflow synth`` writes it, ``quoteflow eval`` and the dataset builders read it, and so can anyone with
real, hand-labelled threads: ``expected.json`` needs only ``{"expected": <key facts>}``; ``summary``, ``tags``
and ``language`` are optional.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.events import KeyFacts, NormalizedThread

MBOX_NAME = "thread.mbox"
EXPECTED_NAME = "expected.json"
EXPECTED_MAX_BYTES = 16 * 1024 * 1024
"""Largest expected.json read (labels of one thread are a few kB): never read past it."""


class LayoutError(ValueError):
    """A thread directory that does not follow the layout; the message names the file and the problem."""


@dataclass
class ThreadCase:
    """One labelled thread: where its mail is and what is true about it."""

    case_id: str
    mbox: Path
    expected: KeyFacts
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_case(case_dir: Path) -> ThreadCase:
    """Read one ``<id>/`` folder; :class:`LayoutError` says precisely what is wrong."""
    mbox, expected_path = case_dir / MBOX_NAME, case_dir / EXPECTED_NAME
    if not mbox.is_file():
        raise LayoutError(f"{case_dir}: missing {MBOX_NAME}")
    if not expected_path.is_file():
        raise LayoutError(f"{case_dir}: missing {EXPECTED_NAME}")
    from services.ingest.api import read_limited

    try:
        data = json.loads(read_limited(expected_path, EXPECTED_MAX_BYTES, "expected.json").decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{expected_path}: not valid JSON ({exc})") from exc
    except OSError as exc:  # too large, or not readable
        raise LayoutError(str(exc)) from exc
    if not isinstance(data, dict) or "expected" not in data:
        raise LayoutError(f"{expected_path}: needs an object with the key 'expected'")
    try:
        expected = KeyFacts.model_validate(data["expected"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LayoutError(f"{expected_path}: expected.{where}: {first['msg']}") from exc
    tags = data.get("tags") or []
    return ThreadCase(
        case_id=case_dir.name,
        mbox=mbox,
        expected=expected,
        summary=str(data.get("summary") or ""),
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        language=data.get("language"),
        extra={k: v for k, v in data.items() if k not in ("expected", "summary", "tags", "language")},
    )


def case_dirs(root: Path) -> list[Path]:
    """The ``<id>/`` folders under root, sorted, so every run sees the same order."""
    if not root.is_dir():
        raise LayoutError(f"{root}: no such directory")
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / MBOX_NAME).exists())


def iter_cases(root: Path) -> Iterator[ThreadCase]:
    for case_dir in case_dirs(root):
        yield load_case(case_dir)


def load_cases(root: Path, limit: int | None = None) -> list[ThreadCase]:
    """All cases under root (the first ``limit``); an empty folder is an error, not a silent zero."""
    dirs = case_dirs(root)
    if not dirs:
        raise LayoutError(f"{root}: no <id>/{MBOX_NAME} folders found")
    return [load_case(d) for d in dirs[:limit]]


def assemble_case_sync(case: ThreadCase) -> NormalizedThread | None:
    """The normalized thread ingest would publish for this case (offline, in-memory store)."""
    import asyncio

    return asyncio.run(assemble_case(case))


async def assemble_case(case: ThreadCase) -> NormalizedThread | None:
    from services.ingest.api import assemble_offline, read_mail_files

    (mail_file,) = read_mail_files([case.mbox])
    return await assemble_offline(mail_file, _ingest_settings())


_SETTINGS: list[Any] = []


def _ingest_settings() -> Any:
    """One IngestSettings per process (reading the environment once is enough)."""
    if not _SETTINGS:
        from services.ingest.api import IngestSettings

        _SETTINGS.append(IngestSettings())
    return _SETTINGS[0]
