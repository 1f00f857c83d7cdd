"""Each service module exposes faststream's module-level ``app`` (the review desk: its FastAPI app)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from faststream import FastStream

from shared import topics

CONSUMES = {
    "ingest": [topics.EMAILS_RAW],
    "extract": [topics.THREADS_NORMALIZED],
    "quote": [topics.FACTS_EXTRACTED, topics.FACTS_CORRECTED],
    "trainer": [topics.FACTS_CORRECTED],
}


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A broker and Redis address (never contacted: building an app connects to nothing)."""
    monkeypatch.setenv("QUOTEFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("QUOTEFLOW_REDIS_URL", "redis://127.0.0.1:9")
    monkeypatch.setenv("QUOTEFLOW_ENGINE", "rules")
    monkeypatch.setenv("QUOTEFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUOTEFLOW_DATASET_DIR", str(tmp_path / "dataset"))
    monkeypatch.setenv("QUOTEFLOW_ADAPTERS_DIR", str(tmp_path / "adapters"))


def subscribed_topics(app: FastStream) -> list[str]:
    broker = app.broker
    assert broker is not None
    return sorted(getattr(topic, "name", topic) for subscriber in broker.subscribers for topic in subscriber.topics)


@pytest.mark.parametrize("service", sorted(CONSUMES))
def test_a_service_module_has_a_faststream_app_consuming_its_topics(configured: None, service: str) -> None:
    module = importlib.reload(importlib.import_module(f"services.{service}.main"))
    app = module.app
    assert isinstance(app, FastStream)
    assert subscribed_topics(app) == sorted(CONSUMES[service])
    assert module.app is app  # built once


def test_the_review_module_has_its_fastapi_app(configured: None) -> None:
    module = importlib.reload(importlib.import_module("services.review.main"))
    assert isinstance(module.app, FastAPI)
    paths = {getattr(route, "path", None) for route in module.app.routes}
    assert {"/login", "/queue"} <= paths


def test_another_attribute_is_still_an_attribute_error() -> None:
    module = importlib.import_module("services.ingest.main")
    with pytest.raises(AttributeError):
        _ = module.application


def test_faststream_tooling_reads_the_module_app(configured: None, tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    done = subprocess.run(
        [sys.executable, "-m", "faststream", "docs", "gen", "services.ingest.main:app", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    channels = json.loads(out.read_text())["channels"]
    assert "emails.raw" in channels and "threads.normalized" in channels
