"""End-to-end pipeline benchmark on the embedded broker (issue 9).

- broker ceiling: raw aiokafka produce and consume on the same machine, so the
  pipeline's own share is visible;
- burst: N one-message threads published at once through ingest → extract → quote
  (each service its own process, as in production): threads/s, latency p50/p95/p99,
  peak RSS per service, and the CPU each process (services, broker, Redis, this
  harness) spent per thread, which shows what bounds throughput on two cores;
- with records handled one batch per fetch (the default) and one by one (batch of 1),
  in three interleaved rounds (medians reported; the machine's speed drifts);
- paced: 50 threads/s for a while: latency p50/p95/p99;
- scale-out: N normalized threads consumed by one extract worker, then by two in the
  same consumer group (fresh broker each time), three rounds;
- the CPU per thread of the work itself (normalize, extract, render) without any
  infrastructure: the floor under the pipeline's cost.
Writes bench/results/pipeline_latency.png.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.ingest.mailfiles import MailFile, assemble_offline
from services.ingest.settings import IngestSettings
from services.ingest.threads import thread_id_for
from services.pipeline import ServiceProcess
from shared import topics
from shared.broker import ensure_topics
from shared.embedded import embedded_stack
from shared.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def offer(index: int) -> bytes:
    """A realistic one-message offer (English), unique per index."""
    message = EmailMessage()
    message["From"] = f"Daniel Lee <sales{index}@seoul-valve.example>"
    message["To"] = f"buyer{index}@northwind.example"
    message["Subject"] = f"Quotation request #{index}: ball valves DN50"
    message["Date"] = format_datetime(datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=index))
    message["Message-ID"] = f"<bench-{index}@seoul-valve.example>"
    message.set_content(
        f"Dear Emily,\n\nThank you for your inquiry. Our price for the DN50 ball valve is USD {20 + index % 5}.80"
        f" per piece for {100 + index % 400} pcs, FOB Busan. Lead time is 4 weeks after order.\n"
        "Payment: 30% T/T deposit, 70% before shipment. Warranty 18 months.\n\nBest regards,\nDaniel Lee\n"
        "Seoul Valve Co., Ltd.\nTel. +82 2 555 1234\n"
    )
    return message.as_bytes()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def broker_ceiling(settings: Settings, count: int) -> dict[str, float]:
    """Raw produce (acks=all) and consume rates of the broker alone, ~2 KB records."""
    payload = offer(0)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send("bench.ceiling", payload, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    produce_s = time.perf_counter() - started
    consumer = AIOKafkaConsumer(
        "bench.ceiling", bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    received = 0
    started = time.perf_counter()
    try:
        while received < count and time.perf_counter() - started < 120:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            received += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()
    consume_s = time.perf_counter() - started
    return {
        "broker_produce_msgs_per_s": round(count / produce_s),
        "broker_consume_msgs_per_s": round(received / consume_s),
    }


class CpuWatch:
    """CPU seconds (user + system) each process spends between enter and exit."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.seconds: dict[str, float] = {}
        self._start: dict[str, float] = {}

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> CpuWatch:
        self._start = {name: self._cpu(p) for name, p in self.processes.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = {name: self._cpu(p) - self._start[name] for name, p in self.processes.items()}


class MemoryWatch:
    """Peak RSS of each service process, sampled in the background."""

    def __init__(self, processes: dict[str, ServiceProcess]) -> None:
        self.peaks = dict.fromkeys(processes, 0)
        self.processes = processes
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            for name, service in self.processes.items():
                if service.process is not None and service.process.poll() is None:
                    rss = psutil.Process(service.process.pid).memory_info().rss
                    self.peaks[name] = max(self.peaks[name], rss)
            await asyncio.sleep(0.2)

    def __enter__(self) -> MemoryWatch:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def push_and_wait(
    settings: Settings, indices: range, rate_per_s: float | None, timeout_s: float = 300
) -> tuple[float, list[float]]:
    """Publish offers (all at once or paced) and wait for their quotes; (seconds, latencies in ms)."""
    consumer = AIOKafkaConsumer(
        topics.QUOTES_GENERATED,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,  # the collector must not add latency of its own
    )
    await consumer.start()
    await consumer.seek_to_end()
    for partition in consumer.assignment():
        await consumer.position(partition)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=2)
    await producer.start()
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []
    # Built before the clock starts: the harness shares the two cores with the pipeline it measures.
    mails = [(thread_id_for("default", f"bench-{i}@seoul-valve.example").encode(), offer(i)) for i in indices]

    async def send_all() -> None:
        start = time.perf_counter()
        for n, (thread_key, mail) in enumerate(mails):
            if rate_per_s:
                delay = start + n / rate_per_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[thread_key] = time.perf_counter()
            await producer.send(topics.EMAILS_RAW, mail, key=thread_key)
        await producer.flush()

    started = time.perf_counter()
    sender = asyncio.create_task(send_all())
    try:
        while len(latencies) < len(indices) and time.perf_counter() - started < timeout_s:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    # Quotes are keyed by thread id: no need to parse the document to match it.
                    if record.key in sent_at:
                        latencies.append((now - sent_at.pop(record.key)) * 1000)
        await sender
    finally:
        await producer.stop()
        await consumer.stop()
    return time.perf_counter() - started, latencies


def fresh_settings() -> Settings:
    """Settings whose embedded Redis starts empty (a folder of its own), so earlier runs do not count."""
    return Settings(data_dir=Path(tempfile.mkdtemp(prefix="quoteflow-bench-data-")))


async def scale_out(count: int, workers: int) -> float:
    """normalized threads/s consumed by `workers` extract processes in one group (fresh broker)."""
    settings = IngestSettings()
    async with embedded_stack(fresh_settings()) as stack:
        await ensure_topics(stack.settings, topics.ALL_TOPICS)
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all", linger_ms=5)
        await producer.start()
        for index in range(count):
            thread = await assemble_offline(MailFile(Path(f"{index}.eml"), [offer(index)]), settings)
            assert thread is not None
            await producer.send(
                topics.THREADS_NORMALIZED, thread.model_dump_json().encode(), key=thread.thread_id.encode()
            )
        await producer.stop()
        consumer = AIOKafkaConsumer(
            topics.FACTS_EXTRACTED, bootstrap_servers=stack.settings.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        processes = [ServiceProcess("extract", stack.settings) for _ in range(workers)]
        try:
            for process in processes:
                process.start()
            await asyncio.gather(*(p.wait_ready() for p in processes))
            # Joining takes seconds; count from the first extracted record to the last.
            received = 0
            first: float | None = None
            deadline = time.perf_counter() + 300
            while received < count and time.perf_counter() < deadline:
                batch = await consumer.getmany(timeout_ms=100)
                got = sum(len(r) for r in batch.values())
                if got and first is None:
                    first = time.perf_counter()
                received += got
            elapsed = time.perf_counter() - (first or time.perf_counter())
        finally:
            await consumer.stop()
            for process in processes:
                process.stop()
    return received / elapsed if elapsed > 0 else float("nan")


async def domain_work_ms(count: int = 300) -> dict[str, float]:
    """CPU per thread of the work itself (normalize, rules extraction, rendering), in this process,
    without Kafka, Redis or tracing: the floor under the pipeline's CPU per thread."""
    from datetime import date

    from services.extract.handlers import to_event
    from services.extract.rules import RulesEngine
    from services.ingest.handlers import decode_incoming
    from services.quote.handlers import build_quote_event
    from services.quote.numbering import QuoteSlot
    from services.quote.render import QuoteRenderer
    from services.quote.settings import QuoteSettings

    ingest_settings, quote_settings = IngestSettings(), QuoteSettings()
    mails = [offer(i) for i in range(count)]
    assembled = [await assemble_offline(MailFile(Path(f"{i}.eml"), [m]), ingest_settings) for i, m in enumerate(mails)]
    threads = [thread for thread in assembled if thread is not None]
    engine, renderer = RulesEngine(), QuoteRenderer(quote_settings)
    slot, issued = QuoteSlot(quote_number="Q-2026-000001", revision=1), date(2026, 5, 1)
    # Lazy loads (taxonomy, templates) outside the clock.
    build_quote_event(to_event(threads[0], engine.extract_sync(threads[0])), slot, quote_settings, issued, renderer)

    started = time.process_time()
    for mail in mails:
        decode_incoming(mail, ingest_settings, tenant=None, arrival=0)
    normalize = time.process_time() - started
    started = time.process_time()
    events = [to_event(thread, engine.extract_sync(thread)) for thread in threads]
    extract = time.process_time() - started
    started = time.process_time()
    for event in events:
        build_quote_event(event, slot, quote_settings, issued, renderer)
    render = time.process_time() - started
    figures = {"normalize": normalize, "extract_rules": extract, "render": render}
    result = {f"domain_cpu_ms_per_thread_{k}": round(v / count * 1000, 2) for k, v in figures.items()}
    result["domain_cpu_ms_per_thread_all"] = round(sum(figures.values()) / count * 1000, 2)
    return result


def plot_latencies(burst: list[float], paced: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for label, values in (("burst", burst), ("paced 50/s", paced)):
        ordered = sorted(values)
        if ordered:
            axis.plot(ordered, [i / len(ordered) for i in range(1, len(ordered) + 1)], label=label)
    axis.set_xscale("log")
    axis.set_xlabel("end-to-end latency, e-mail published → quote received (ms)")
    axis.set_ylabel("share of threads")
    axis.set_title("QuoteFlow pipeline latency (embedded Tansu broker, rules engine)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


async def _run(quick: bool) -> dict[str, float | str]:
    figures: dict[str, float | str] = {}
    burst: list[float] = []
    paced: list[float] = []
    configs = {"one_by_one": 1, "batched": Settings().consumer_batch_max}
    rounds: dict[str, list[dict[str, float | str]]] = {label: [] for label in configs}
    # Interleaved rounds, medians reported: this machine's speed drifts by tens of percent
    # over minutes, which a single run per configuration would attribute to the configuration.
    for round_index in range(1 if quick else 3):
        for label, batch_max in configs.items():
            measured, burst_run, paced_run = await _pipeline(quick, batch_max, paced=round_index == 0)
            rounds[label].append(measured)
            if label == "batched":
                burst = burst_run
                paced = paced_run or paced
    for label, runs in rounds.items():
        for key in runs[0]:
            values = [run[key] for run in runs if key in run]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            figures[f"{key}_{label}"] = round(statistics.median(numbers), 2) if numbers else values[0]
    figures["rounds"] = len(rounds["batched"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_latencies(burst, paced, RESULTS / "pipeline_latency.png")
    scale_n = 500 if quick else 3000
    ones, twos = [], []
    for _ in range(1 if quick else 3):
        ones.append(await scale_out(scale_n, 1))
        twos.append(await scale_out(scale_n, 2))
    one, two = statistics.median(ones), statistics.median(twos)
    figures["extract_1_process_threads_per_s"] = round(one, 1)
    figures["extract_2_processes_threads_per_s"] = round(two, 1)
    figures["extract_scale_out_ratio"] = round(statistics.median(b / a for a, b in zip(ones, twos, strict=True)), 2)
    figures.update(await domain_work_ms())
    figures["engine"] = "rules"
    return figures


async def _pipeline(
    quick: bool, batch_max: int, *, paced: bool = True
) -> tuple[dict[str, float | str], list[float], list[float]]:
    """A burst (and a paced run) with subscribers taking at most `batch_max` records per batch."""
    burst_n = 300 if quick else 2000
    paced_s = 5 if quick else 20
    figures: dict[str, float | str] = {}
    async with embedded_stack(fresh_settings()) as stack:
        settings = stack.settings
        await ensure_topics(settings, [*topics.ALL_TOPICS, "bench.ceiling"])
        figures.update(await broker_ceiling(settings, burst_n * 5))
        logs = Path(tempfile.mkdtemp(prefix="quoteflow-bench-"))
        env = {"QUOTEFLOW_CONSUMER_BATCH_MAX": str(batch_max)}
        services = {name: ServiceProcess(name, settings, env=env) for name in ("ingest", "extract", "quote")}
        try:
            for name, service in services.items():
                service.start(logs / f"{name}.log")
            await asyncio.gather(*(s.wait_ready() for s in services.values()))
            await push_and_wait(settings, range(10_000, 10_050), None)  # warm-up
            pids = {name: s.process.pid for name, s in services.items() if s.process is not None}
            pids.update({server.name: server.process.pid for server in stack.servers if server.process is not None})
            pids["harness"] = os.getpid()
            with MemoryWatch(services) as memory:
                with CpuWatch(pids) as cpu:
                    seconds, burst = await push_and_wait(settings, range(burst_n), None)
                figures["e2e_threads"] = len(burst)
                figures["e2e_threads_per_s"] = round(len(burst) / seconds, 1)
                figures["burst_latency_p50_ms"] = round(statistics.median(burst), 1)
                figures["burst_latency_p99_ms"] = round(percentile(burst, 99), 1)
                paced_latencies: list[float] = []
                if paced:
                    _, paced_latencies = await push_and_wait(settings, range(20_000, 20_000 + 50 * paced_s), 50)
                    figures["paced_50_per_s_latency_p50_ms"] = round(statistics.median(paced_latencies), 1)
                    figures["paced_50_per_s_latency_p95_ms"] = round(percentile(paced_latencies, 95), 1)
                    figures["paced_50_per_s_latency_p99_ms"] = round(percentile(paced_latencies, 99), 1)
            for name, peak in memory.peaks.items():
                figures[f"peak_rss_mb_{name}"] = round(peak / 2**20, 1)
            for name, spent in cpu.seconds.items():
                figures[f"cpu_ms_per_thread_{name}"] = round(spent / max(len(burst), 1) * 1000, 2)
            total = sum(cpu.seconds.values()) / max(len(burst), 1)
            figures["cpu_ms_per_thread_all"] = round(total * 1000, 2)
            # What two fully busy cores could sustain at that CPU cost per thread.
            figures["cpu_bound_threads_per_s_2_cores"] = round(2 / total, 1) if total else "n/a"
        finally:
            for service in services.values():
                service.stop()
    return figures, burst, paced_latencies


def run(quick: bool = False) -> dict[str, float | str]:
    from services.cli_support import run_async  # uvloop, as the services use: the harness shares their cores

    return run_async(_run(quick))
