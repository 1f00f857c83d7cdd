"""Retries with backoff and jitter, and a circuit breaker, for calls to the inference server.

A GPU server under load answers 429 or 503, or takes too long; a short, jittered
retry absorbs that without the workers retrying in lock-step. When it is down, the
breaker stops every worker from waiting out its timeouts on each thread: calls fail
at once (and the rules engine answers) until one trial call after ``reset_s`` succeeds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")

BreakerState = Literal["closed", "open", "half_open"]


class LlmError(Exception):
    """The inference server did not give a usable answer."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class LlmTransientError(LlmError):
    """429, 5xx, a timeout or a dropped connection: the same request may succeed later."""

    retryable = True


class LlmRejectedError(LlmError):
    """The server refused the request itself (422 validation): retrying the same request cannot help."""


class CircuitOpenError(LlmError):
    """The breaker is open: the server failed repeatedly, so no request is sent for a while."""


@dataclass
class CircuitBreaker:
    """Consecutive-failure breaker: closed → open after ``failure_threshold`` → half-open after ``reset_s``."""

    failure_threshold: int = 5
    reset_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = "closed"
    failures: int = 0
    opened_at: float = 0.0
    _trial_in_flight: bool = False

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go out now."""
        if self.state == "open":
            if self.clock() - self.opened_at < self.reset_s:
                remaining = self.reset_s - (self.clock() - self.opened_at)
                raise CircuitOpenError(f"circuit open after {self.failures} failures; next trial in {remaining:.0f} s")
            self.state = "half_open"
            self._trial_in_flight = False
        if self.state == "half_open":
            if self._trial_in_flight:
                raise CircuitOpenError("circuit half-open: a trial request is already in flight")
            self._trial_in_flight = True

    def record_success(self) -> None:
        self.state = "closed"
        self.failures = 0
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        self._trial_in_flight = False
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self.state = "open"
            self.opened_at = self.clock()


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter (delay drawn from [0, min(cap, base × 2^n)])."""

    max_attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 8.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Pause before attempt ``attempt + 1``; a server's Retry-After is a floor, not a suggestion."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        jittered = self.rng.uniform(0, ceiling)
        return max(jittered, min(retry_after_s or 0.0, self.cap_s))


@dataclass
class CallReport:
    """What happened during one guarded call, for warnings and metrics."""

    attempts: int = 0
    errors: list[str] = field(default_factory=list)


async def call_with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    deadline: float,
    report: CallReport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``operation`` through the breaker, retrying transient errors until ``deadline`` (a ``clock`` time)."""
    report = report or CallReport()
    attempt = 0
    while True:
        attempt += 1
        breaker.before_call()
        report.attempts = attempt
        try:
            result = await operation()
        except LlmError as exc:
            report.errors.append(str(exc))
            if not exc.retryable:
                # The server answered; it is up. A rejected request says nothing about its health.
                breaker.record_success()
                raise
            breaker.record_failure()
            if attempt >= policy.max_attempts:
                raise
            pause = policy.delay(attempt, exc.retry_after_s)
            if clock() + pause >= deadline:
                raise LlmTransientError(f"{exc} (no time left for another attempt)", status=exc.status) from exc
            await sleep(pause)
            continue
        breaker.record_success()
        return result
