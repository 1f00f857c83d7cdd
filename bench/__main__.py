"""Run every ``bench/bench_*.py`` module's ``run(quick)`` and write bench/results/.

`make bench` (all), `python -m bench pipeline quote` (some), `--quick` (smaller N).
Each module returns a flat dict of figures; they are written as JSON per module and
summarised, with the machine they were measured on, in bench/results/README.md.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    wanted = [a for a in argv[1:] if not a.startswith("--")]
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if wanted:
        modules = [m for m in modules if m.removeprefix("bench_") in wanted]
    RESULTS.mkdir(parents=True, exist_ok=True)
    console = Console()
    summary: dict[str, dict[str, object]] = {}
    failed = 0
    for name in modules:
        console.rule(name)
        started = time.perf_counter()
        try:
            figures = importlib.import_module(f"bench.{name}").run(quick=quick)
        except Exception:
            failed += 1
            console.print(f"[red]{name} failed[/]\n{traceback.format_exc()}")
            continue
        figures = {**figures, "wall_s": round(time.perf_counter() - started, 1)}
        summary[name] = figures
        (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), "figures": figures}, indent=2))
        table = Table(show_header=False)
        for key, value in figures.items():
            table.add_row(key, str(value))
        console.print(table)
    write_summary(summary)
    return 1 if failed else 0


def write_summary(summary: dict[str, dict[str, object]]) -> None:
    """bench/results/README.md: a section per benchmark, each saying where and when it was measured (a partial
    run updates its sections and keeps the others, measured elsewhere perhaps)."""
    lines = [
        "# Benchmark results",
        "",
        "Each section names the machine and the day it was measured on. Absolute numbers depend on the machine;",
        "compare ratios within a section.",
        "",
    ]
    for name, figures in summary.items():
        lines += [f"## {name}", "", _measured_line(machine()), "", "| figure | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in figures.items()]
        lines.append("")
    path = RESULTS / "README.md"
    previous = path.read_text() if path.exists() else ""
    if len(summary) < len(list(Path(__file__).parent.glob("bench_*.py"))) and previous:
        kept = [s for s in previous.split("\n## ")[1:] if s.split("\n", 1)[0] not in summary]
        lines += [f"## {_with_measured_line(section)}" for section in kept]
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def _measured_line(info: dict[str, str]) -> str:
    return f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, Python {info['python']}."


def _with_measured_line(section: str) -> str:
    """A kept section, with the machine line from its JSON when it has none yet."""
    title, _, body = section.partition("\n")
    stored = RESULTS / f"{title.strip()}.json"
    if "Measured " in body.split("|", 1)[0] or not stored.is_file():
        return section
    info = json.loads(stored.read_text()).get("machine") or {}
    if not {"date", "cpu", "cores", "python"} <= set(info):
        return section
    return f"{title}\n\n{_measured_line(info)}\n{body}"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
