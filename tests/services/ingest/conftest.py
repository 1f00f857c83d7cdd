"""Paths and helpers shared by the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.normalize import IncomingEmail, normalize_raw
from services.ingest.settings import IngestSettings
from tests.conftest import FIXTURES, TEAM_SHARED

INGEST_FIXTURES = FIXTURES / "ingest"
TALON = TEAM_SHARED / "corpora" / "talon" / "tests" / "fixtures"


@pytest.fixture
def settings() -> IngestSettings:
    return IngestSettings()


def load(name: str, settings: IngestSettings | None = None, *, arrival: int = 0) -> IncomingEmail:
    """Normalize one hand-written fixture."""
    return normalize_raw((INGEST_FIXTURES / name).read_bytes(), settings or IngestSettings(), arrival=arrival)


def fixture_path(name: str) -> Path:
    return INGEST_FIXTURES / name
