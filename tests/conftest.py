"""Fixtures shared by the whole suite: the embedded broker and Redis, real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.embedded import ChildServer, redis_server, tansu_server
from shared.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# Tests start from an empty adapter registry unless they ask for the adapter shipped in models/adapters/.
os.environ.setdefault("QUOTEFLOW_BUNDLED_ADAPTER", "false")
TEAM_SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# SPEC.md §1's example: the talk's thread must give exactly these key facts.
SPEC_EXAMPLE_FACTS: dict[str, Any] = {
    "buyer": {"name": "김서연", "company": "한빛무역", "email": "seoyeon.kim@hanbit-trading.co.kr"},
    "supplier": {"name": "박준호", "company": "대양부품", "email": "junho.park@daeyang-parts.com"},
    "currency": "KRW",
    "items": [
        {
            "product": "X 제품",
            "quantity": 100,
            "unit": "개",
            "unit_price": 9500,
            "currency": "KRW",
            "discount_percent": 5,
        }
    ],
    "moq": 50,
    "delivery_lead_time_days": 7,
    "delivery_date": None,
    "shipping_method": None,
    "incoterm": None,
    "payment_terms": None,
    "warranty_months": None,
    "budget": None,
    "quote_requested": True,
}


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, never the developer's QUOTEFLOW_* environment."""
    for key in list(os.environ):
        if key.startswith("QUOTEFLOW_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QUOTEFLOW_BUNDLED_ADAPTER", "false")  # an empty registry, unless a test asks for it


def _start(servers: list[ChildServer]) -> None:
    for server in servers:
        server.start()
    for server in servers:
        server.wait_listening_sync()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A fresh Tansu broker and redis-server for one test module; settings pointing at them."""
    yield from running_stack(tmp_path_factory.mktemp("stack"))


def running_stack(workdir: Path) -> Iterator[Settings]:
    """Start a Tansu broker and a redis-server in ``workdir``; yield settings pointing at them, then stop both."""
    kafka, redis = tansu_server(workdir), redis_server(workdir)
    _start([kafka, redis])
    try:
        yield Settings(
            kafka_bootstrap=f"127.0.0.1:{kafka.port}",
            kafka_idempotence=False,
            redis_url=SecretStr(f"redis://127.0.0.1:{redis.port}/0"),
        )
    finally:
        redis.stop()
        kafka.stop()


@pytest.fixture(scope="module")
def redis_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of its own; yields its URL."""
    workdir = tmp_path_factory.mktemp("redis")
    redis = redis_server(workdir)
    _start([redis])
    try:
        yield f"redis://127.0.0.1:{redis.port}/0"
    finally:
        redis.stop()
