"""Paths and helpers shared by the ingest tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.ingest.normalize import IncomingEmail, normalize_raw
from services.ingest.settings import IngestSettings
from tests.conftest import FIXTURES, TEAM_SHARED

INGEST_FIXTURES = FIXTURES / "ingest"
BAD_EMAIL_REASON = re.compile(
    r"message of \d+ bytes exceeds the limit of \d+"
    r"|empty message"
    r"|binary data, not an e-mail"
    r"|not an RFC 5322 message: (?:it does not start with a header line|no header section)"
    r"|missing From header"
    r"|(?:message|MIME) nesting too deep to (?:normalize|parse|walk)"
    r"|unparseable MIME: \w+: .*",
    re.DOTALL,
)
"""Every reason normalize_raw gives when it rejects bytes (services/ingest/normalize.py and mime.py)."""
TALON = TEAM_SHARED / "corpora" / "talon" / "tests" / "fixtures"


@pytest.fixture
def settings() -> IngestSettings:
    return IngestSettings()


def load(name: str, settings: IngestSettings | None = None, *, arrival: int = 0) -> IncomingEmail:
    """Normalize one hand-written fixture."""
    return normalize_raw((INGEST_FIXTURES / name).read_bytes(), settings or IngestSettings(), arrival=arrival)


def fixture_path(name: str) -> Path:
    return INGEST_FIXTURES / name
