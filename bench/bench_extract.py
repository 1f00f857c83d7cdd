"""Rules-engine extraction cost: per-thread p50/p99 latency and threads per second.

Threads are the hand-written fixtures, the held-out threads (written in other styles,
after the engine) and the talk's example, normalized once up front (ingest is not
measured). The headline figure is the 5-message case: threads with five or more
messages are timed separately (target < 10 ms p50). Accuracy is reported beside the
cost: key-fact F1 with the evaluation harness's exact SPEC §4 metric on both sets, on the development split
of the generalisation work (tests/fixtures/threads_dev, issue 16: the styles the engine is tuned on) and on
the unseen split (tests/fixtures/threads_unseen: styles the engine is never tuned on), each on its own row
and not timed, so the latency figures stay comparable.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "threads"
HELDOUT = REPO / "tests" / "fixtures" / "threads_heldout"
DEV = REPO / "tests" / "fixtures" / "threads_dev"
UNSEEN = REPO / "tests" / "fixtures" / "threads_unseen"


def _threads(paths: list[Path]) -> list:  # type: ignore[type-arg]
    from services.ingest.mailfiles import assemble_offline, read_mail_files
    from services.ingest.settings import IngestSettings

    settings = IngestSettings()
    threads = []
    for file in read_mail_files(paths):
        thread = asyncio.run(assemble_offline(file, settings))
        if thread is not None:
            threads.append(thread)
    return threads


def _f1(engine, folder: Path) -> float:  # type: ignore[no-untyped-def]
    """Key-fact F1 (SPEC §4, exact) of the engine over one fixture folder; NaN when the metric is unavailable."""
    try:
        from services.trainer.evaluation.metrics import key_fact_f1
    except ImportError:
        return float("nan")
    from shared.events import KeyFacts

    folders = sorted(p for p in folder.iterdir() if (p / "expected.json").exists())
    threads = _threads([p / "thread.mbox" for p in folders])
    pairs = []
    for thread, path in zip(threads, folders, strict=True):
        truth = json.loads((path / "expected.json").read_text(encoding="utf-8"))["expected"]
        pairs.append((engine.extract_sync(thread).facts, KeyFacts.model_validate(truth)))
    return round(key_fact_f1(pairs).f1, 4)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def run(quick: bool = False) -> dict[str, float | str]:
    """Time RulesEngine.extract_sync over the fixture threads."""
    from services.extract.rules import RulesEngine

    started = time.perf_counter()
    engine = RulesEngine()
    paths = sorted(FIXTURES.glob("*/thread.mbox")) + sorted(HELDOUT.glob("*/thread.mbox"))
    threads = _threads(paths + sorted((REPO / "examples").glob("*.mbox")))
    for thread in threads:  # the first Korean thread loads kiwipiepy (keywords); not part of steady state
        engine.extract_sync(thread)
    warmup_s = time.perf_counter() - started
    rounds = 3 if quick else 20
    all_ms: list[float] = []
    long_ms: list[float] = []
    total_start = time.perf_counter()
    for _ in range(rounds):
        for thread in threads:
            t0 = time.perf_counter()
            engine.extract_sync(thread)
            elapsed = (time.perf_counter() - t0) * 1000
            all_ms.append(elapsed)
            if len(thread.messages) >= 5:
                long_ms.append(elapsed)
    total_s = time.perf_counter() - total_start
    return {
        "threads": float(len(threads)),
        "runs": float(len(all_ms)),
        "p50_ms": round(statistics.median(all_ms), 3),
        "p99_ms": round(_percentile(all_ms, 0.99), 3),
        "p50_ms_5plus_messages": round(statistics.median(long_ms), 3) if long_ms else float("nan"),
        "p99_ms_5plus_messages": round(_percentile(long_ms, 0.99), 3) if long_ms else float("nan"),
        "threads_per_s": round(len(all_ms) / total_s, 1),
        "startup_s": round(warmup_s, 2),
        "key_fact_f1_fixtures": _f1(engine, FIXTURES),
        "key_fact_f1_heldout": _f1(engine, HELDOUT),
        "key_fact_f1_dev": _f1(engine, DEV),
        "key_fact_f1_unseen": _f1(engine, UNSEEN),
        "engine": "rules",
    }


if __name__ == "__main__":
    print(run(quick=False))
