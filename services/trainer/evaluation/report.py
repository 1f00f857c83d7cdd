"""Evaluation output: metrics.json, report.md and PNG plots (per-field F1 bars, engine comparison)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.trainer.evaluation.metrics import FIELD_NAMES

ENGINE_COLOURS = {"rules": "#1f77b4", "llm": "#2ca02c", "hybrid": "#9467bd", "baseline": "#7f7f7f"}


def write_report(metrics: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the three kinds of output; returns their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out_dir / "metrics.json",
        "report": out_dir / "report.md",
        "per_field_plot": out_dir / "per_field_f1.png",
        "engines_plot": out_dir / "engines.png",
    }
    paths["metrics"].write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_per_field(metrics, paths["per_field_plot"])
    plot_engines(metrics, paths["engines_plot"])
    paths["report"].write_text(markdown(metrics, paths), encoding="utf-8")
    return paths


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(metrics: dict[str, Any], paths: dict[str, Path] | None = None) -> str:
    engines: dict[str, Any] = metrics["engines"]
    names = list(engines)
    dataset = metrics["dataset"]
    lines = [
        "# QuoteFlow evaluation",
        "",
        f"Threads: **{dataset['threads']}** from `{dataset['dir']}` "
        f"({', '.join(f'{k} {v}' for k, v in dataset['languages'].items())}). "
        f"Wall time {metrics['wall_seconds']:.1f} s with {metrics['workers']} worker(s).",
        "",
        "Key-fact F1 follows SPEC.md §4 (the talk's TP/TN/FP/FN, items aligned by product); "
        "the baseline is price-parser + quantulum3 + dateparser + regexes.",
        "",
        "## Headline",
        "",
        "| engine | key-fact F1 | macro F1 | exact threads | tag F1 | SemScore | s/thread | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        data = engines[name]
        kf = data["key_fact_f1"]
        label = name + (f" ({data['model']})" if data.get("model") else "")
        lines.append(
            f"| {label} | **{_fmt(kf['f1'])}** | {_fmt(kf['macro_f1'])} | {kf['exact_threads']}/{kf['threads']} "
            f"| {_fmt((data.get('tag_f1') or {}).get('f1'))} | {_fmt((data.get('semscore') or {}).get('mean'))} "
            f"| {_fmt(data.get('seconds_per_thread'), 4)} | {data['errors']} |"
        )
    languages = sorted({lang for data in engines.values() for lang in data["by_language"]})
    lines += ["", "## By language", "", "| engine | " + " | ".join(languages) + " |"]
    lines.append("| --- |" + " --- |" * len(languages))
    for name in names:
        row = [_fmt(engines[name]["by_language"].get(lang, {}).get("f1")) for lang in languages]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    lines += ["", "## Per field (F1; TP/TN/FP/FN of the first engine)", ""]
    lines.append("| field | " + " | ".join(names) + f" | {names[0]} TP/TN/FP/FN |")
    lines.append("| --- |" + " --- |" * (len(names) + 1))
    for field_name in FIELD_NAMES:
        cells = [_fmt(engines[n]["key_fact_f1"]["per_field"][field_name]["f1"]) for n in names]
        first = engines[names[0]]["key_fact_f1"]["per_field"][field_name]
        counts = f"{first['tp']}/{first['tn']}/{first['fp']}/{first['fn']}"
        lines.append(f"| {field_name} | " + " | ".join(cells) + f" | {counts} |")
    sample = metrics.get("semscore_sample")
    lines += ["", "## Summaries and tags", "", f"Similarity: {metrics['similarity']}."]
    lines += [f"SemScore reads the first {sample} threads with a summary." if sample else "SemScore reads all.", ""]
    lines.append(f"LLM judge (truthfulness 1–5, FineSurE): {metrics['llm_judge']}.")
    for name in names:
        judge = engines[name].get("judge")
        if judge:
            lines.append(
                f"- {name}: truthfulness {_fmt(judge.get('truthfulness'), 2)} / 5, "
                f"faithfulness {_fmt(judge.get('faithfulness'))}, completeness {_fmt(judge.get('completeness'))}, "
                f"conciseness {_fmt(judge.get('conciseness'))} (n={judge.get('judged')})"
            )
    errors = [(n, e) for n in names for e in engines[n].get("error_examples", [])]
    if errors:
        lines += ["", "## Errors (first few)", ""]
        lines += [f"- {n}: `{e[:200]}`" for n, e in errors]
    if paths:
        lines += ["", "## Plots", "", f"![per-field F1]({paths['per_field_plot'].name})", ""]
        lines.append(f"![engines]({paths['engines_plot'].name})")
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_per_field(metrics: dict[str, Any], path: Path) -> None:
    """Horizontal grouped bars: F1 of every field, one colour per engine."""
    plt = _pyplot()
    engines = metrics["engines"]
    names = list(engines)
    fields = list(FIELD_NAMES)
    height = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(fields) + 1.5))
    for index, name in enumerate(names):
        values = [engines[name]["key_fact_f1"]["per_field"][f]["f1"] for f in fields]
        positions = [i + index * height for i in range(len(fields))]
        ax.barh(positions, values, height=height, label=name, color=ENGINE_COLOURS.get(name))
    ax.set_yticks([i + height * (len(names) - 1) / 2 for i in range(len(fields))])
    ax.set_yticklabels(fields)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 (SPEC.md §4)")
    ax.set_title(f"Key-fact F1 per field ({metrics['dataset']['threads']} threads)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_engines(metrics: dict[str, Any], path: Path) -> None:
    """Grouped bars per engine: overall and per-language key-fact F1, tag F1 and SemScore."""
    plt = _pyplot()
    engines = metrics["engines"]
    names = list(engines)
    languages = sorted({lang for data in engines.values() for lang in data["by_language"]})
    groups = ["key-fact F1", *[f"F1 {lang}" for lang in languages], "macro F1", "tag F1", "SemScore"]

    def values(data: dict[str, Any]) -> list[float]:
        row = [data["key_fact_f1"]["f1"]]
        row += [data["by_language"].get(lang, {}).get("f1") or 0.0 for lang in languages]
        row += [data["key_fact_f1"]["macro_f1"], (data.get("tag_f1") or {}).get("f1") or 0.0]
        row.append((data.get("semscore") or {}).get("mean") or 0.0)
        return row

    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(groups)), 4.5))
    for index, name in enumerate(names):
        positions = [g + index * width for g in range(len(groups))]
        bars = ax.bar(positions, values(engines[name]), width=width, label=name, color=ENGINE_COLOURS.get(name))
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks([g + width * (len(names) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, rotation=15)
    ax.set_ylim(0, 1.08)
    ax.set_title("Engine comparison")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
