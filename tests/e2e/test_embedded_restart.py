"""`quoteflow run` killed with SIGKILL: its embedded servers die with it, nothing is left behind,
and a restart goes on where it stopped (quote numbers continue, seen mail stays seen)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaProducer

from shared import topics
from shared.embedded import WORKDIR_PREFIX, remove_stale_workdirs
from shared.events import QuoteGenerated
from shared.settings import Settings
from tests.integration.test_fault_tolerance import TopicReader, inquiry

pytestmark = pytest.mark.e2e

RUNNING = re.compile(r"QuoteFlow running.*?kafka=(127\.0\.0\.1:\d+)", re.DOTALL)


def start_run(tmp_path: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`quoteflow run` on the embedded stack with its data in tmp_path; returns it and its broker address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env.update({"QUOTEFLOW_DATA_DIR": str(tmp_path / "data"), "QUOTEFLOW_LOG_LEVEL": "WARNING", "COLUMNS": "200"})
    output = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
    )
    output.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (found := RUNNING.search(log.read_text(errors="replace"))) is not None:
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"quoteflow run did not start: {log.read_text(errors='replace')[-2000:]}")


async def quote_for(bootstrap: str, mail: bytes, key: bytes) -> QuoteGenerated:
    settings = Settings(kafka_bootstrap=bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.EMAILS_RAW, mail, key=key)
    finally:
        await producer.stop()
    async with TopicReader(settings, topics.QUOTES_GENERATED) as quotes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while loop.time() < deadline and not quotes.records:
            await quotes.poll()
    assert quotes.records, "no quote"
    return QuoteGenerated.model_validate_json(quotes.records[-1].value)  # type: ignore[attr-defined]


async def test_sigkill_leaves_no_server_or_folder_and_restart_keeps_redis_state(tmp_path: Path) -> None:
    first, bootstrap = start_run(tmp_path, tmp_path / "run-1.log")
    try:
        quote = await quote_for(bootstrap, inquiry(1), b"first")
        servers = psutil.Process(first.pid).children(recursive=True)
        assert {p.name() for p in servers} >= {"redis-server"} and len(servers) >= 2
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        _, alive = psutil.wait_procs(servers, timeout=10)
        assert alive == [], f"servers outlived their parent: {[p.name() for p in alive]}"
    finally:
        first.kill()
    left = list(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}{first.pid}-*"))  # noqa: ASYNC240
    assert left, "the killed run's working folder should still be there before a restart"

    second, bootstrap = start_run(tmp_path, tmp_path / "run-2.log")
    try:
        assert not any(folder.exists() for folder in left), "the restart did not remove the stale folder"
        # A new thread: the number goes on from the one before the kill instead of starting again.
        next_quote = await quote_for(bootstrap, inquiry(2), b"second")
        year, counter = quote.quote_number.rsplit("-", 1)
        assert next_quote.quote_number == f"{year}-{int(counter) + 1:06d}"
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(60) == 0


def test_second_run_on_the_same_data_dir_is_refused_with_a_reason(tmp_path: Path) -> None:
    first, _ = start_run(tmp_path, tmp_path / "run-1.log")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
        env["QUOTEFLOW_DATA_DIR"] = str(tmp_path / "data")
        second = subprocess.run(
            [sys.executable, "-m", "services.cli", "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert "in use by QuoteFlow process" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(60)


def test_stale_folders_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{WORKDIR_PREFIX}{dead.pid}-abc"
    live = tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-def"
    stale.mkdir()
    live.mkdir()
    assert remove_stale_workdirs(tmp_path) == [stale]
    assert not stale.exists() and live.exists()
