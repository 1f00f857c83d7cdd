"""Runs engines over a thread directory and scores them: the body of ``quoteflow eval``.

Threads are read and assembled exactly as ``quoteflow extract`` does (ingest's ``read_mail_files`` +
``assemble_offline``). The offline engines (rules, baseline) run in worker processes (fork; one per core
by default), the LLM engine in the main process with bounded concurrency. Scoring happens once at the end:
key-fact F1 overall, per field and per language, tag F1, SemScore, and the LLM judge when configured.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.trainer.cases import ThreadCase, assemble_case, case_dirs, load_case
from services.trainer.evaluation.metrics import key_fact_f1
from shared.events import KeyFacts, NormalizedThread

ENGINES = ("rules", "llm", "hybrid", "baseline")
OFFLINE_ENGINES = ("rules", "baseline")
LLM_ENGINES = ("llm", "hybrid")


class EvalError(Exception):
    """A problem the user can fix (no threads, engine not available); one line."""


@dataclass
class Prediction:
    """One engine's answer for one thread (facts None when it failed)."""

    engine: str
    facts: KeyFacts | None
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    fallback: bool = False  # the LLM engine could not answer and the rules engine did (its facts are the rules')


@dataclass
class CaseOutcome:
    """A labelled thread and every engine's prediction for it."""

    case: ThreadCase
    language: str
    predictions: dict[str, Prediction] = field(default_factory=dict)
    assemble_error: str | None = None


# --------------------------------------------------------------------------- offline engines (worker processes)

_WORKER_ENGINES: dict[str, Any] = {}


def _build_offline_engine(name: str) -> Any:
    if name == "rules":
        from services.extract.api import RulesEngine

        return RulesEngine()
    if name == "baseline":
        from services.trainer.evaluation.baseline import BaselineEngine, warm_up

        warm_up()
        return BaselineEngine()
    raise EvalError(f"unknown offline engine {name!r}")


def _init_worker(names: Sequence[str]) -> None:
    for name in names:
        if name not in _WORKER_ENGINES:
            _WORKER_ENGINES[name] = _build_offline_engine(name)


def _run_engine(engine: Any, thread: NormalizedThread) -> Any:
    if hasattr(engine, "extract_sync"):
        return engine.extract_sync(thread)
    return asyncio.run(engine.extract(thread))


def _evaluate_case(job: tuple[str, tuple[str, ...]]) -> CaseOutcome:
    """Load, assemble and run the offline engines on one case (runs in a worker)."""
    case_dir, names = job
    case = load_case(Path(case_dir))
    try:
        thread = asyncio.run(assemble_case(case))
    except Exception as exc:  # a thread ingest cannot read scores as empty predictions, never stops the run
        return CaseOutcome(case=case, language=case.language or "en", assemble_error=f"{type(exc).__name__}: {exc}")
    language = case.language or (thread.language if thread else "en")
    outcome = CaseOutcome(case=case, language=language)
    if thread is None:
        outcome.assemble_error = "no readable message in the mbox"
        return outcome
    for name in names:
        started = time.perf_counter()
        try:
            result = _run_engine(_WORKER_ENGINES[name], thread)
            outcome.predictions[name] = Prediction(
                engine=name,
                facts=result.facts,
                summary=result.summary or "",
                tags=list(result.tags or []),
                seconds=time.perf_counter() - started,
            )
        except Exception as exc:  # an engine bug on one thread is a scored miss, not a crashed evaluation
            outcome.predictions[name] = Prediction(
                engine=name,
                facts=None,
                seconds=time.perf_counter() - started,
                error=f"{type(exc).__name__}: {exc}".splitlines()[0] + " | " + traceback.format_exc(limit=2)[-300:],
            )
    return outcome


def run_offline(
    dirs: Sequence[Path],
    names: Sequence[str],
    workers: int,
    on_done: Callable[[], None] | None = None,
    after_fork: Callable[[], None] | None = None,
) -> list[CaseOutcome]:
    """Offline engines over all cases, in order, in ``workers`` processes (1: in this process).

    ``after_fork`` runs once the workers exist: work started there (a thread loading the embedding model)
    overlaps extraction without being forked mid-import.
    """
    jobs = [(str(d), tuple(names)) for d in dirs]
    outcomes: list[CaseOutcome] = []
    _init_worker(names)  # load before forking: children inherit warm libraries
    if workers <= 1 or len(jobs) < 50:
        if after_fork:
            after_fork()
        for job in jobs:
            outcomes.append(_evaluate_case(job))
            if on_done:
                on_done()
        return outcomes
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(tuple(names),)) as pool:
        if after_fork:
            after_fork()
        for outcome in pool.imap(_evaluate_case, jobs, chunksize=8):
            outcomes.append(outcome)
            if on_done:
                on_done()
    return outcomes


# --------------------------------------------------------------------------- llm engine (this process)


async def run_llm(
    outcomes: list[CaseOutcome],
    concurrency: int,
    on_done: Callable[[], None] | None = None,
    *,
    name: str = "llm",
    adapter: str | None = None,
) -> str:
    """Run the LLM engine ``name`` (llm or hybrid) on every case; returns the model description.

    Without QUOTEFLOW_LLM_URL the engine starts the embedded CPU model (llamacpp), one request at a time.
    ``adapter``: ``none`` for the base model, an adapter id, or None for the promoted one.
    """
    from services.extract.api import ExtractSettings, build_engine

    settings = ExtractSettings()
    update: dict[str, Any] = {"engine": name}
    if adapter is not None:
        update["llm_adapter"] = adapter
    try:
        engine = build_engine(settings.model_copy(update=update))
    except Exception as exc:
        raise EvalError(f"cannot start the {name} engine: {exc}") from exc
    if not settings.llm_url:
        concurrency = 1  # one CPU model: requests would only queue
    semaphore = asyncio.Semaphore(max(1, concurrency))
    model: list[str] = []

    async def one(outcome: CaseOutcome) -> None:
        async with semaphore:
            started = time.perf_counter()
            try:
                thread = await assemble_case(outcome.case)
                if thread is None:
                    raise EvalError("no readable message")
                result = await engine.extract(thread)
                if result.model and not model:
                    model.append(result.model + (f" + {result.adapter_id}" if result.adapter_id else ""))
                outcome.predictions[name] = Prediction(
                    engine=name,
                    facts=result.facts,
                    summary=result.summary or "",
                    tags=list(result.tags or []),
                    seconds=time.perf_counter() - started,
                    fallback=any(w.startswith("fallback:") for w in result.warnings),
                )
            except Exception as exc:
                outcome.predictions[name] = Prediction(
                    engine=name,
                    facts=None,
                    seconds=time.perf_counter() - started,
                    error=f"{type(exc).__name__}: {exc}",
                )
            if on_done:
                on_done()

    await asyncio.gather(*(one(o) for o in outcomes))
    close = getattr(engine, "aclose", None) or getattr(engine, "close", None)
    if close is not None:
        maybe = close()
        if asyncio.iscoroutine(maybe):
            await maybe
    return model[0] if model else name


# --------------------------------------------------------------------------- scoring


def score_engine(
    outcomes: Sequence[CaseOutcome],
    engine: str,
    similarity: Any | None,
    semscore_sample: int | None = None,
    *,
    model_only: bool = False,
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """Metrics of one engine; also (case_id, summary, reference) pairs for the judge.

    SemScore embeds whole summaries, which costs ~0.1–0.2 s each on a small CPU, so it reads the first
    ``semscore_sample`` threads (in id order, i.e. an unbiased slice of a synthetic set); None reads all.
    ``model_only``: a thread the LLM engine handed to the rules engine (``fallbacks``) scores as empty
    facts, so the figures are the model's alone (comparing models); otherwise as served.
    """
    pairs: list[tuple[KeyFacts, KeyFacts]] = []
    by_language: dict[str, list[tuple[KeyFacts, KeyFacts]]] = defaultdict(list)
    seconds: list[float] = []
    errors: list[str] = []
    summaries: list[tuple[str, str, str]] = []
    tag_pairs: list[tuple[list[str], list[str]]] = []
    fallbacks = 0
    for outcome in outcomes:
        prediction = outcome.predictions.get(engine)
        facts = prediction.facts if prediction and prediction.facts is not None else KeyFacts()
        if prediction is not None and prediction.fallback:
            fallbacks += 1
            if model_only:
                facts = KeyFacts()
        if prediction is None or prediction.error or outcome.assemble_error:
            errors.append(f"{outcome.case.case_id}: {outcome.assemble_error or (prediction and prediction.error)}")
        pairs.append((facts, outcome.case.expected))
        by_language[outcome.language].append((facts, outcome.case.expected))
        if prediction is not None:
            seconds.append(prediction.seconds)
            if outcome.case.summary:
                summaries.append((outcome.case.case_id, prediction.summary, outcome.case.summary))
            if outcome.case.tags:
                tag_pairs.append((prediction.tags, outcome.case.tags))
    report = key_fact_f1(pairs)
    result: dict[str, Any] = {
        "key_fact_f1": report.to_dict(),
        "by_language": {
            language: {k: v for k, v in key_fact_f1(group).to_dict().items() if k != "per_field"}
            for language, group in sorted(by_language.items())
        },
        "threads": len(outcomes),
        "errors": len(errors),
        "error_examples": errors[:5],
        "fallbacks": fallbacks,
        "seconds_per_thread": round(sum(seconds) / len(seconds), 6) if seconds else None,
    }
    if similarity is not None:
        from services.trainer.evaluation.semantic import semscore, tag_f1

        result["tag_f1"] = tag_f1(tag_pairs, similarity).to_dict() if tag_pairs else None
        sample = summaries[:semscore_sample] if semscore_sample is not None else summaries
        result["semscore"] = semscore([(s, r) for _, s, r in sample], similarity).to_dict() if sample else None
    return result, summaries


@dataclass
class EvalRun:
    """Everything ``quoteflow eval`` reports."""

    metrics: dict[str, Any]
    outcomes: list[CaseOutcome]


def evaluate(
    threads_dir: Path,
    engines: Sequence[str],
    *,
    workers: int | None = None,
    limit: int | None = None,
    semantic: bool = True,
    use_model: bool = True,
    judge: bool = True,
    judge_sample: int = 50,
    semscore_sample: int | None = 100,
    llm_concurrency: int = 4,
    progress: Callable[[int], Callable[[], None]] | None = None,
    llm_adapter: str | None = None,
    model_only: bool = False,
) -> EvalRun:
    """Score the engines on threads_dir; ``progress(total)`` may return a per-thread callback."""
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise EvalError(f"unknown engine {unknown[0]!r}: choose from {', '.join(ENGINES)} or all")
    dirs = case_dirs(threads_dir)[:limit]
    if not dirs:
        raise EvalError(f"{threads_dir}: no <id>/thread.mbox folders found")
    workers = workers if workers is not None else max(1, os.cpu_count() or 1)
    started = time.perf_counter()
    offline = [e for e in engines if e in OFFLINE_ENGINES]
    llm_engines = [e for e in engines if e in LLM_ENGINES]
    tick = progress(len(dirs) * (1 + len(llm_engines))) if progress else None
    engine_seconds: dict[str, float] = {}
    loaded: list[Any] = []
    loader: threading.Thread | None = None

    def start_loading_similarity() -> None:
        nonlocal loader
        if semantic:
            from services.trainer.evaluation.semantic import Similarity

            def load() -> None:
                similarity = Similarity(use_model=use_model)
                references = [load_case(d).summary for d in dirs[: semscore_sample or len(dirs)]]
                similarity.prepare(references)
                loaded.append(similarity)

            loader = threading.Thread(target=load, daemon=True)
            loader.start()

    t0 = time.perf_counter()
    outcomes = run_offline(dirs, offline, workers, tick, after_fork=start_loading_similarity)
    if offline:
        engine_seconds["offline"] = time.perf_counter() - t0
    llm_models: dict[str, str] = {}
    for name in llm_engines:
        t1 = time.perf_counter()
        llm_models[name] = asyncio.run(run_llm(outcomes, llm_concurrency, tick, name=name, adapter=llm_adapter))
        engine_seconds[name] = time.perf_counter() - t1
    similarity = None
    similarity_description = "not computed (--no-semantic)"
    if semantic:
        from services.trainer.evaluation.semantic import Similarity

        if loader is not None:
            loader.join()
        similarity = loaded[0] if loaded else Similarity(use_model=use_model)
        similarity_description = similarity.description
    results: dict[str, Any] = {}
    judge_inputs: dict[str, list[tuple[str, str, str]]] = {}
    for engine in engines:
        results[engine], judge_inputs[engine] = score_engine(
            outcomes, engine, similarity, semscore_sample, model_only=model_only
        )
    for name, model in llm_models.items():
        results[name]["model"] = model
    judge_status = "skipped: --no-judge"
    if judge:
        from services.trainer.evaluation.judge import judge_summaries

        judge_status = judge_summaries(results, judge_inputs, outcomes, sample=judge_sample)
    languages: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        languages[outcome.language] += 1
    metrics = {
        "schema": "quoteflow.eval/1",
        "created_at": datetime.now(UTC).isoformat(),
        "dataset": {"dir": str(threads_dir), "threads": len(outcomes), "languages": dict(sorted(languages.items()))},
        "engines": results,
        "similarity": similarity_description,
        "semscore_sample": semscore_sample,
        "llm_judge": judge_status,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "engine_wall_seconds": {k: round(v, 3) for k, v in engine_seconds.items()},
        "workers": workers,
    }
    return EvalRun(metrics=metrics, outcomes=outcomes)


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, float | None, float | None]]:
    """(engine, metric, old, new) for every headline metric present in either run."""
    rows: list[tuple[str, str, float | None, float | None]] = []

    def headline(run: dict[str, Any], engine: str) -> dict[str, float | None]:
        data = run.get("engines", {}).get(engine) or {}
        kf = data.get("key_fact_f1") or {}
        values: dict[str, float | None] = {"key_fact_f1": kf.get("f1"), "macro_f1": kf.get("macro_f1")}
        for language, block in (data.get("by_language") or {}).items():
            values[f"key_fact_f1[{language}]"] = block.get("f1")
        for name, block in (kf.get("per_field") or {}).items():
            values[f"f1.{name}"] = block.get("f1")
        values["tag_f1"] = (data.get("tag_f1") or {}).get("f1")
        values["semscore"] = (data.get("semscore") or {}).get("mean")
        for key in ("truthfulness", "faithfulness", "completeness", "conciseness"):
            values[key] = (data.get("judge") or {}).get(key)
        return values

    engines = list(dict.fromkeys([*old.get("engines", {}), *new.get("engines", {})]))
    for engine in engines:
        before, after = headline(old, engine), headline(new, engine)
        for metric in dict.fromkeys([*before, *after]):
            if before.get(metric) is None and after.get(metric) is None:
                continue
            rows.append((engine, metric, before.get(metric), after.get(metric)))
    return rows
