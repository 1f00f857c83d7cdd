"""The LLM extraction engine: prompt, constrained generation, repair once, ground, verify, or fall back.

One thread goes through:

1. server facts (/info: base model, token limits, loaded adapters), cached;
2. the promoted adapter, refused if the server does not have it (TGI would silently
   answer with the base model instead);
3. the prompt (zero- or few-shot), trimmed to the server's input limit;
4. generation under a concurrency limit, with retries, backoff, jitter and a circuit breaker;
5. validation against the schema; an invalid answer is repaired once;
6. grounding (unsupported values dropped) and comparison with the rules engine
   (disagreements on grounded values set needs_review).

Anything that goes wrong on the way (server down, breaker open, answer still invalid,
time budget spent) returns the rules engine's extraction with a warning that says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.extract.adapters import AdapterState
from services.extract.engine import Extraction, ExtractionEngine
from services.extract.llm.client import GenerationRequest, InferenceBackend, ServerInfo
from services.extract.llm.fewshot import FewShotSelector
from services.extract.llm.grounding import ThreadText, ground, squash, unsupported_summary_numbers
from services.extract.llm.numbers import same_number
from services.extract.llm.resilience import (
    CallReport,
    CircuitBreaker,
    LlmError,
    LlmRejectedError,
    RetryPolicy,
    call_with_retries,
)
from services.extract.settings import ExtractSettings
from shared.events import KeyFacts, NormalizedThread
from shared.llm_format.answers import (
    InvalidAnswer,
    LlmAnswer,
    facts_schema,
    parse_facts,
    parse_summary_tags,
    summary_tags_schema,
)
from shared.llm_format.prompts import FewShotExample, Prompt, Turn, build_prompt, repair_turns

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Fields whose LLM and rules values are compared; free-text fields are written too differently to compare.
COMPARED_FIELDS = (
    "currency",
    "moq",
    "delivery_lead_time_days",
    "delivery_date",
    "shipping_method",
    "incoterm",
    "warranty_months",
    "budget",
    "quote_requested",
)
COMPARED_ITEM_FIELDS = ("quantity", "unit_price", "currency", "discount_percent")
PROMPT_SAFETY_TOKENS = 16
# The summary answer is bounded by its schema (160 characters and six short tags): more tokens than this
# can only be a model that does not stop, and on a CPU each costs ~0.1 s.
SUMMARY_MAX_NEW_TOKENS = 320


@dataclass
class EngineStats:
    """Counters for benchmarks and logs."""

    threads: int = 0
    llm_answers: int = 0
    repairs: int = 0
    fallbacks: int = 0
    dropped_values: int = 0
    disagreements: int = 0
    requests: int = 0
    fallback_reasons: dict[str, int] = field(default_factory=dict)


class _LoopSemaphore:
    """A semaphore per event loop (asyncio primitives belong to the loop that first waits on them)."""

    def __init__(self, permits: int) -> None:
        self._permits = permits
        self._by_loop: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}

    def get(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(id(loop))
        if entry is None or entry[0] is not loop:
            self._by_loop = {k: v for k, v in self._by_loop.items() if not v[0].is_closed()}
            entry = (loop, asyncio.Semaphore(self._permits))
            self._by_loop[id(loop)] = entry
        return entry[1]


class LlmEngine:
    """ExtractionEngine on a self-hosted LLM (TGI or vLLM), grounded and verified by the rules engine."""

    name = "llm"

    def __init__(
        self,
        backend: InferenceBackend,
        settings: ExtractSettings,
        *,
        rules: ExtractionEngine,
        adapters: AdapterState | None = None,
        fewshot: FewShotSelector | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.rules = rules
        self.adapters = adapters or AdapterState(store=None, configured_id=settings.llm_adapter_id)
        self.fewshot = fewshot or FewShotSelector(store=None)
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=settings.llm_breaker_failures, reset_s=settings.llm_breaker_reset_s, clock=clock
        )
        self.retry = retry or RetryPolicy(
            max_attempts=settings.llm_max_attempts, base_s=settings.llm_backoff_s, cap_s=settings.llm_backoff_max_s
        )
        self.clock = clock
        self.stats = EngineStats()
        self._semaphore = _LoopSemaphore(settings.llm_max_concurrency)
        self._info: ServerInfo | None = None
        self._info_at = 0.0
        self._reported_adapter_problems: set[str] = set()

    # ------------------------------------------------------------------ public

    async def extract(self, thread: NormalizedThread) -> Extraction:
        """Never raises for a bad server or a bad answer: the rules engine answers then, and the warning says why."""
        self.stats.threads += 1
        rules_result = await self.rules.extract(thread)
        deadline = self.clock() + self.settings.llm_total_budget_s
        try:
            async with asyncio.timeout(self.settings.llm_total_budget_s):
                result = await self._extract_with_llm(thread, rules_result, deadline)
        except TimeoutError:
            return self._fallback(rules_result, f"time budget of {self.settings.llm_total_budget_s:g} s spent")
        except _Fallback as exc:
            return self._fallback(rules_result, str(exc))
        except LlmError as exc:
            return self._fallback(rules_result, str(exc))
        self.stats.llm_answers += 1
        return result

    async def server_info(self, *, force: bool = False) -> ServerInfo:
        """/info (or vLLM's /v1/models), cached for ``llm_info_ttl_s``; reports an adapter the server lacks."""
        if force or self._info is None or self.clock() - self._info_at > self.settings.llm_info_ttl_s:
            report = CallReport()
            self._info = await call_with_retries(
                self.backend.info,
                policy=self.retry,
                breaker=self.breaker,
                deadline=self.clock() + self.settings.llm_total_budget_s,
                report=report,
                clock=self.clock,
            )
            self._info_at = self.clock()
            logger.info(
                "inference server %s: model %s, max_input_tokens %d, adapters %s",
                self.backend.flavour,
                self._info.model_id,
                self._info.max_input_tokens,
                self._info.adapters,
            )
        return self._info

    async def check_adapter(self) -> str | None:
        """The start-up check: a problem with the configured/promoted adapter, or None when all is well."""
        info = await self.server_info(force=True)
        _, problem = self._usable_adapter(await self.adapters.current(), info)
        return problem

    async def close(self) -> None:
        await self.backend.close()

    # ------------------------------------------------------------------ steps

    def _known_adapters(self, info: ServerInfo) -> list[str] | None:
        if info.adapters is not None:
            return info.adapters
        return self.settings.llm_lora_adapters

    def _usable_adapter(self, adapter_id: str | None, info: ServerInfo) -> tuple[str | None, str | None]:
        """(adapter to send, problem). An adapter the server does not list is never sent."""
        if adapter_id is None:
            return None, None
        known = self._known_adapters(info)
        if known is None:
            problem = (
                f"cannot verify adapter {adapter_id!r}: the server does not list its adapters "
                "(set QUOTEFLOW_LLM_LORA_ADAPTERS to the server's LORA_ADAPTERS)"
            )
            self._report_once(problem, logging.WARNING)
            return adapter_id, None
        if adapter_id in known:
            return adapter_id, None
        problem = (
            f"adapter {adapter_id!r} is not loaded by the inference server (it has: {', '.join(known) or 'none'}); "
            "used the base model"
        )
        self._report_once(problem, logging.ERROR)
        return None, problem

    def _report_once(self, problem: str, level: int) -> None:
        if problem not in self._reported_adapter_problems:
            self._reported_adapter_problems.add(problem)
            logger.log(level, problem)

    async def _extract_with_llm(
        self, thread: NormalizedThread, rules_result: Extraction, deadline: float
    ) -> Extraction:
        warnings: list[str] = []
        info = await self.server_info()
        adapter_id, adapter_problem = self._usable_adapter(await self.adapters.current(), info)
        if adapter_problem:
            warnings.append(f"adapter: {adapter_problem}")

        max_new_tokens = max(16, min(self.settings.llm_max_new_tokens, info.max_total_tokens // 2))
        budget = min(info.max_input_tokens, info.max_total_tokens - max_new_tokens) - PROMPT_SAFETY_TOKENS
        ask = _Asker(self, adapter_id, info, max_new_tokens, budget, deadline, warnings)
        examples = await self.fewshot.select(thread, self.settings.llm_fewshot_k) if self._few_shot(adapter_id) else []
        answer = await self._answer(thread, ask, examples)
        return self._finish(thread, answer, rules_result, info, adapter_id, warnings)

    def _few_shot(self, adapter_id: str | None) -> bool:
        mode = self.settings.llm_prompt_mode
        return mode == "few_shot" or (mode == "auto" and adapter_id is None)

    async def _answer(self, thread: NormalizedThread, ask: _Asker, examples: list[FewShotExample]) -> LlmAnswer:
        """The two tasks the adapter was trained on (shared.llm_format): key facts, then summary and tags.

        Zero-shot, each request is byte for byte a training record's prompt; few-shot puts the
        examples before it. A failed summary keeps the facts.
        """
        facts_prompt = build_prompt("facts", thread, examples, budget_tokens=ask.budget)
        _check_fits(facts_prompt, ask)
        if facts_prompt.omitted_messages or facts_prompt.truncated_messages:
            ask.warnings.append(
                f"trimmed to {ask.budget} tokens: {facts_prompt.omitted_messages} message(s) omitted, "
                f"{facts_prompt.truncated_messages} shortened (first inquiry and newest messages kept)"
            )
        facts = await ask(facts_prompt, facts_schema(), parse_facts)
        try:
            summary_prompt = build_prompt("summary", thread, examples, budget_tokens=ask.budget)
            _check_fits(summary_prompt, ask)
            summary, tags = await ask(summary_prompt, summary_tags_schema(), parse_summary_tags)
        except (_Fallback, LlmError) as exc:
            ask.warnings.append(f"summary: none, the summary-and-tags request failed: {exc}")
            summary, tags = None, None
        return LlmAnswer(facts=facts, summary=summary, tags=tags)

    async def _generate(
        self,
        turns: list[Turn],
        schema: dict[str, Any],
        adapter_id: str | None,
        info: ServerInfo,
        max_new_tokens: int,
        deadline: float,
    ) -> tuple[str, str | None]:
        request = GenerationRequest(
            turns=turns,
            schema=schema,
            adapter_id=adapter_id,
            base_model_id=info.model_id,
            max_new_tokens=max_new_tokens,
            timeout_s=self.settings.llm_timeout_s,
        )

        async def attempt() -> tuple[str, str | None]:
            self.stats.requests += 1
            request.timeout_s = max(0.1, min(self.settings.llm_timeout_s, deadline - self.clock()))
            generation = await self.backend.generate(request)
            return generation.text, generation.finish_reason

        async with self._semaphore.get():
            return await call_with_retries(
                attempt, policy=self.retry, breaker=self.breaker, deadline=deadline, clock=self.clock
            )

    def _finish(
        self,
        thread: NormalizedThread,
        answer: LlmAnswer,
        rules_result: Extraction,
        info: ServerInfo,
        adapter_id: str | None,
        warnings: list[str],
    ) -> Extraction:
        text = ThreadText(thread)
        grounded = ground(answer.facts, thread, text)
        self.stats.dropped_values += len(grounded.dropped)
        warnings.extend(f"grounding: {d}" for d in grounded.dropped)
        warnings.extend(f"grounding: {d}" for d in grounded.doubts)
        summary = answer.summary or ""
        missing = unsupported_summary_numbers(summary, text)
        if missing:
            warnings.append(
                "grounding: the summary mentions " + ", ".join(f"{v:g}" for v in missing) + ", not stated in the thread"
            )
        disagreements = compare_with_rules(grounded.facts, rules_result.facts)
        self.stats.disagreements += len(disagreements)
        warnings.extend(disagreements)
        return Extraction(
            facts=grounded.facts,
            summary=summary,
            tags=[t.strip() for t in answer.tags or [] if t and t.strip()],
            evidence=grounded.evidence,
            warnings=warnings,
            needs_review=bool(disagreements or grounded.doubts or missing or rules_result.needs_review),
            engine="llm",
            model=info.model_id,
            adapter_id=adapter_id,
        )

    def _fallback(self, rules_result: Extraction, reason: str) -> Extraction:
        self.stats.fallbacks += 1
        key = reason.split(":")[0][:60]
        self.stats.fallback_reasons[key] = self.stats.fallback_reasons.get(key, 0) + 1
        logger.warning("llm engine fell back to rules: %s", reason)
        rules_result.engine = "rules"
        rules_result.warnings = [
            f"fallback: llm engine unavailable, rules engine used: {reason}",
            *rules_result.warnings,
        ]
        return rules_result


class _Fallback(Exception):
    """The LLM answer cannot be used; the message is the reason given in the event."""


def _check_fits(prompt: Prompt, ask: _Asker) -> None:
    if prompt.estimated_tokens > ask.budget:
        raise _Fallback(f"thread too long for the model even after trimming (~{prompt.estimated_tokens} tokens)")


@dataclass
class _Asker:
    """One thread's requests: same adapter, limits, deadline and warning list; repairs an invalid answer once."""

    engine: LlmEngine
    adapter_id: str | None
    info: ServerInfo
    max_new_tokens: int
    budget: int
    deadline: float
    warnings: list[str]

    async def __call__(self, prompt: Prompt, schema: dict[str, Any], parse: Callable[[str], T]) -> T:
        engine = self.engine
        limit = self.max_new_tokens if prompt.task == "facts" else min(self.max_new_tokens, SUMMARY_MAX_NEW_TOKENS)
        text, finish_reason = await engine._generate(
            prompt.turns, schema, self.adapter_id, self.info, limit, self.deadline
        )
        try:
            return parse(text)
        except InvalidAnswer as first:
            reason = first.reason
            if finish_reason == "length":
                reason = f"{reason}; it was cut off at {limit} tokens, so write shorter values"
        engine.stats.repairs += 1
        turns = repair_turns(prompt, text, reason, budget_tokens=self.budget)
        try:
            repaired_text, _ = await engine._generate(turns, schema, self.adapter_id, self.info, limit, self.deadline)
        except LlmRejectedError as exc:
            raise _Fallback(f"invalid LLM output ({reason}); the repair request was rejected: {exc}") from exc
        try:
            answer = parse(repaired_text)
        except InvalidAnswer as second:
            raise _Fallback(f"invalid LLM output, still invalid after one repair: {second.reason}") from second
        self.warnings.append(f"repaired: the first answer {reason}")
        return answer


def _leaf_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return bool(left) == bool(right)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return same_number(float(left), float(right))
    return squash(str(left)) == squash(str(right))


def _align_items(
    llm: list[dict[str, Any]], rules: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """Pairs of (llm index, llm item, rules item): by product name, else by position."""
    pairs = []
    used: set[int] = set()
    for index, item in enumerate(llm):
        match = next(
            (
                j
                for j, other in enumerate(rules)
                if j not in used
                and item.get("product")
                and other.get("product")
                and squash(str(item["product"])) == squash(str(other["product"]))
            ),
            None,
        )
        if match is None and index < len(rules) and index not in used:
            match = index
        if match is not None:
            used.add(match)
            pairs.append((index, item, rules[match]))
    return pairs


def compare_with_rules(llm_facts: KeyFacts, rules_facts: KeyFacts) -> list[str]:
    """Warnings for grounded LLM values the rules engine reads differently; each names both values."""
    llm = llm_facts.model_dump(mode="json")
    rules = rules_facts.model_dump(mode="json")
    found = []
    for name in COMPARED_FIELDS:
        if llm.get(name) is not None and rules.get(name) is not None and not _leaf_equal(llm[name], rules[name]):
            found.append(f"disagreement: {name} llm={llm[name]!r} rules={rules[name]!r}")
    for index, item, other in _align_items(llm.get("items") or [], rules.get("items") or []):
        for name in COMPARED_ITEM_FIELDS:
            if item.get(name) is not None and other.get(name) is not None and not _leaf_equal(item[name], other[name]):
                found.append(f"disagreement: items.{index}.{name} llm={item[name]!r} rules={other[name]!r}")
    return found
