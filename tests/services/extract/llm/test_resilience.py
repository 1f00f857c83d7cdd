"""Retry policy and circuit breaker on a fake clock (no sleeping, no timing assertions)."""

from __future__ import annotations

import random

import pytest

from services.extract.llm.resilience import (
    CallReport,
    CircuitBreaker,
    CircuitOpenError,
    LlmRejectedError,
    LlmTransientError,
    RetryPolicy,
    call_with_retries,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_s=10, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now = 10
    breaker.before_call()
    assert breaker.state == "half_open"
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # only one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now = 20
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_backoff_has_full_jitter_under_a_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, base_s=1, cap_s=4, rng=random.Random(7))
    delays = [policy.delay(attempt) for attempt in range(1, 6) for _ in range(50)]
    assert all(0 <= d <= 4 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not lock-step
    assert policy.delay(1, retry_after_s=3) >= 3


async def test_transient_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    outcomes: list[Exception | str] = [LlmTransientError("429", status=429), LlmTransientError("503"), "ok"]

    async def operation() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    report = CallReport()
    result = await call_with_retries(
        operation,
        policy=RetryPolicy(max_attempts=3, base_s=1, cap_s=2, rng=random.Random(1)),
        breaker=CircuitBreaker(clock=clock),
        deadline=100,
        report=report,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result == "ok"
    assert report.attempts == 3 and len(clock.sleeps) == 2


async def test_rejections_are_not_retried_and_do_not_trip_the_breaker() -> None:
    calls = 0
    breaker = CircuitBreaker(failure_threshold=1)

    async def operation() -> str:
        nonlocal calls
        calls += 1
        raise LlmRejectedError("422", status=422)

    with pytest.raises(LlmRejectedError):
        await call_with_retries(operation, policy=RetryPolicy(max_attempts=3), breaker=breaker, deadline=1e12)
    assert calls == 1 and breaker.state == "closed"


async def test_no_retry_is_started_past_the_deadline() -> None:
    clock = FakeClock()

    async def operation() -> str:
        raise LlmTransientError("timeout")

    with pytest.raises(LlmTransientError, match="no time left"):
        await call_with_retries(
            operation,
            policy=RetryPolicy(max_attempts=5, base_s=10, cap_s=10, rng=random.Random(3)),
            breaker=CircuitBreaker(clock=clock),
            deadline=0.001,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == []
