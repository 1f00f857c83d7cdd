"""Where the services spend their CPU per message: the pipeline burst of bench_pipeline under py-spy.

``python -m bench.profile_pipeline [N]`` starts the embedded broker and Redis and the three services as their
own processes (as in production), sends N one-message threads at once, samples each service with py-spy
(``pip install py-spy``; without it only the CPU figures are taken) and writes, per service, the collapsed
stacks (``<service>.txt``, for flame-graph tools) and the functions that took the most samples, inclusive
and by themselves (``README.md``), into bench/results/profiles/. It also prints the CPU each service spent
per thread and the Redis commands per thread, next to the CPU of the work itself (bench_pipeline's
``domain_work_ms``). Not part of ``make bench``: sampling costs the services some CPU of its own.
"""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_pipeline import CpuWatch, domain_work_ms, fresh_settings, push_and_wait
from services.pipeline import ServiceProcess
from shared import topics
from shared.broker import ensure_topics
from shared.embedded import embedded_stack

OUT = Path(__file__).resolve().parent / "results" / "profiles"
SERVICES = ("ingest", "extract", "quote")
# Frames every sample passes through (the process's entry point and event loop): left out of the inclusive list.
ENTRY_FRAMES = ("<frozen runpy>", "typer/", "services/cli.py", "uvloop/", "asyncio/runners.py", "shared/loop.py")


def top_functions(collapsed: Path, count: int = 25) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(inclusive, self) shares of the samples per function, from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack:
            continue
        n = int(samples)
        frames = [re.sub(r":\d+\)", ")", frame) for frame in stack.split(";")]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    share = max(total, 1)
    return (
        [(f, n / share) for f, n in inclusive.most_common() if not any(e in f for e in ENTRY_FRAMES)][:count],
        [(f, n / share) for f, n in own.most_common(count)],
    )


def find_py_spy() -> str | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return spy if Path(spy).is_file() else None


def start_sampling(spy: str | None, pids: dict[str, int]) -> dict[str, subprocess.Popen[bytes]]:
    """One py-spy per service process, recording collapsed stacks until it is interrupted."""
    if spy is None:
        return {}
    return {
        name: subprocess.Popen(  # noqa: S603 - py-spy on our own children
            [spy, "record", "-p", str(pid), "-r", "250", "--format", "raw", "-o", str(OUT / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    }


async def profile(count: int) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    spy = find_py_spy()
    sampling = spy is not None
    lines = ["# Per-message CPU profile (bench/profile_pipeline.py)", ""]
    async with embedded_stack(fresh_settings()) as stack:
        settings = stack.settings
        await ensure_topics(settings, list(topics.ALL_TOPICS))
        logs = Path(tempfile.mkdtemp(prefix="quoteflow-profile-"))
        services = {name: ServiceProcess(name, settings) for name in SERVICES}
        try:
            for name, service in services.items():
                service.start(logs / f"{name}.log")
            await asyncio.gather(*(s.wait_ready() for s in services.values()))
            await push_and_wait(settings, range(10_000, 10_050), None)  # warm-up
            pids = {name: s.process.pid for name, s in services.items() if s.process is not None}
            spies = start_sampling(spy, pids)
            await asyncio.sleep(1.0 if spies else 0)
            import redis.asyncio as aioredis

            assert settings.redis_url is not None
            client = aioredis.from_url(settings.redis_url.get_secret_value())
            await client.config_resetstat()
            with CpuWatch(pids) as cpu:
                seconds, latencies = await push_and_wait(settings, range(count), None)
            stats = await client.info("commandstats")
            await client.aclose()
            for process in spies.values():
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
        finally:
            for service in services.values():
                service.stop()
    done = max(len(latencies), 1)
    work = await domain_work_ms()
    per_thread = {name: spent / done * 1000 for name, spent in cpu.seconds.items()}
    calls = {k.removeprefix("cmdstat_"): v["calls"] / done for k, v in stats.items() if k != "cmdstat_config"}
    services_ms, work_ms = sum(per_thread.values()), work["domain_cpu_ms_per_thread_all"]
    by_count = sorted(calls.items(), key=lambda kv: -kv[1])
    lines += [
        f"{done} one-message threads in {seconds:.1f} s ({done / seconds:.1f} threads/s); CPU per thread: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_thread.items())
        + f", all services {services_ms:.2f} ms; the work itself {work_ms:.2f} ms ({services_ms / work_ms:.1f}×).",
        "",
        "Redis commands per thread: " + ", ".join(f"{k} {v:.1f}" for k, v in by_count),
        "",
    ]
    for name in SERVICES if sampling else ():
        inclusive, own = top_functions(OUT / f"{name}.txt")
        lines += [f"## {name}", "", "| inclusive | function | | self | function |", "| --- | --- | --- | --- | --- |"]
        for (f1, s1), (f2, s2) in zip(inclusive, own, strict=False):
            lines.append(f"| {s1:.1%} | `{f1[:90]}` | | {s2:.1%} | `{f2[:90]}` |")
        lines.append("")
    (OUT / "README.md").write_text("\n".join(lines))
    return lines


if __name__ == "__main__":
    print("\n".join(asyncio.run(profile(int(sys.argv[1]) if len(sys.argv) > 1 else 1500))[:6]))
