"""Streams generated threads to disk in the SPEC.md §2 layout, with a progress bar, in parallel when it pays."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

from services.trainer.cases import EXPECTED_NAME, MBOX_NAME
from services.trainer.synth.generator import SyntheticThread, generate_thread

DEFAULT_COUNT = 1155
"""The talk's number of synthetic conversations."""


@dataclass
class SynthResult:
    """What was written: counts by language and kind, for the command's closing table."""

    out_dir: Path
    threads: int = 0
    messages: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)


def write_thread(thread: SyntheticThread, out_dir: Path) -> Path:
    """``out_dir/<id>/thread.mbox`` + ``expected.json``; an existing folder of the same id is replaced."""
    case_dir = out_dir / thread.case_id
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / MBOX_NAME).write_bytes(mbox_bytes(thread.messages))
    payload = json.dumps(thread.expected, ensure_ascii=False, indent=2)
    (case_dir / EXPECTED_NAME).write_text(payload + "\n", encoding="utf-8")
    return case_dir


def mbox_bytes(messages: list[bytes]) -> bytes:
    """mboxo: a 'From ' line per message (sender and Date, so the bytes are reproducible), '>From ' escaping."""
    out = bytearray()
    for raw in messages:
        parsed = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        sender = parseaddr(str(parsed["From"] or ""))[1] or "MAILER-DAEMON"
        try:
            stamp = parsedate_to_datetime(str(parsed["Date"])).astimezone(UTC)
        except (TypeError, ValueError):
            stamp = datetime(1970, 1, 1, tzinfo=UTC)
        out += f"From {sender} {stamp:%a %b %d %H:%M:%S %Y}\n".encode()
        body = raw.replace(b"\r\n", b"\n")
        for line in body.split(b"\n"):
            out += (b">" + line if re.match(rb">*From ", line) else line) + b"\n"
        out += b"\n"  # the blank line that separates messages
    return bytes(out)


def _generate(args: tuple[int, int]) -> SyntheticThread:
    seed, index = args
    return generate_thread(seed, index)


def iter_threads(n: int, seed: int, workers: int | None = None) -> Iterator[SyntheticThread]:
    """Threads 0..n-1 of seed, in order; generated in worker processes for large n."""
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    jobs = [(seed, index) for index in range(n)]
    if workers <= 1 or n < 200:
        for job in jobs:
            yield _generate(job)
        return
    context = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    with context.Pool(workers) as pool:
        yield from pool.imap(_generate, jobs, chunksize=16)


def write_dataset(
    n: int, seed: int, out_dir: Path, *, progress: bool = True, workers: int | None = None
) -> SynthResult:
    """Write n threads of seed into out_dir, streaming (memory stays flat whatever n)."""
    if n < 1:
        raise ValueError("--n must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = SynthResult(out_dir=out_dir)
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("threads", total=n)
            for thread in iter_threads(n, seed, workers):
                _record(thread, out_dir, result)
                bar.advance(task)
    else:
        for thread in iter_threads(n, seed, workers):
            _record(thread, out_dir, result)
    return result


def _record(thread: SyntheticThread, out_dir: Path, result: SynthResult) -> None:
    write_thread(thread, out_dir)
    result.threads += 1
    result.messages += len(thread.messages)
    result.languages[str(thread.expected["language"])] += 1
    result.kinds[str(thread.expected["kind"])] += 1
