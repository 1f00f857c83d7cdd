"""Benchmark of issue 7: synthetic threads per second, and `quoteflow eval` wall time and F1 (rules vs baseline).

``run()`` writes 1,155 threads (the talk's count; ``quick``: 120) with seed 0 into a temporary folder,
then evaluates the rules engine and the baseline on them the way ``quoteflow eval`` does.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def run(quick: bool = False) -> dict[str, float | str]:
    from services.trainer.evaluation.runner import evaluate
    from services.trainer.synth.writer import write_dataset

    n = 120 if quick else 1155
    figures: dict[str, float | str] = {"threads": float(n), "seed": 0.0, "cpus": float(os.cpu_count() or 1)}
    with tempfile.TemporaryDirectory(prefix="quoteflow-bench-eval-") as tmp:
        root = Path(tmp) / "threads"
        started = time.perf_counter()
        result = write_dataset(n, 0, root, progress=False)
        synth_s = time.perf_counter() - started
        figures["synth_seconds"] = round(synth_s, 3)
        figures["synth_threads_per_second"] = round(n / synth_s, 1)
        figures["synth_messages"] = float(result.messages)

        started = time.perf_counter()
        rules = evaluate(root, ["rules"], judge=False)
        figures["eval_rules_wall_seconds"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        rules_only_f1 = evaluate(root, ["rules"], semantic=False, judge=False)
        figures["eval_rules_no_semantic_wall_seconds"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        baseline = evaluate(root, ["baseline"], semantic=False, judge=False)
        figures["eval_baseline_wall_seconds"] = round(time.perf_counter() - started, 3)

        for name, run_ in (("rules", rules), ("baseline", baseline)):
            data = run_.metrics["engines"][name]
            figures[f"{name}_key_fact_f1"] = data["key_fact_f1"]["f1"]
            figures[f"{name}_macro_f1"] = data["key_fact_f1"]["macro_f1"]
            for language, block in data["by_language"].items():
                figures[f"{name}_key_fact_f1_{language}"] = block["f1"]
            figures[f"{name}_seconds_per_thread"] = data["seconds_per_thread"] or 0.0
        figures["rules_tag_f1"] = (rules.metrics["engines"]["rules"].get("tag_f1") or {}).get("f1") or 0.0
        figures["rules_semscore"] = (rules.metrics["engines"]["rules"].get("semscore") or {}).get("mean") or 0.0
        figures["similarity"] = str(rules.metrics["similarity"])
        assert rules_only_f1.metrics["engines"]["rules"]["key_fact_f1"]["f1"] == figures["rules_key_fact_f1"]
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
