"""Whatever bytes arrive, normalization returns a message or raises BadEmail with a reason, nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.html_text import html_to_text
from services.ingest.normalize import BadEmail, normalize_raw
from services.ingest.quoting import split_reply
from services.ingest.settings import IngestSettings
from services.ingest.signatures import split_signature
from tests.services.ingest.conftest import INGEST_FIXTURES

SEEDS = [p.read_bytes() for p in sorted(INGEST_FIXTURES.rglob("*.eml"))]
SETTINGS = IngestSettings()


def _normalizes_or_rejects(raw: bytes) -> None:
    try:
        incoming = normalize_raw(raw, SETTINGS)
    except BadEmail as exc:
        assert str(exc)
    else:
        assert incoming.message.content_hash


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), cut=st.integers(min_value=0, max_value=4000), junk=st.binary(max_size=64))
def test_truncated_and_spliced_fixtures(seed: bytes, cut: int, junk: bytes) -> None:
    _normalizes_or_rejects(seed[:cut] + junk + seed[cut:])


@settings(max_examples=150, deadline=None)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "Date", "X"]),
            st.text(max_size=60),
        ),
        max_size=6,
    ),
    body=st.binary(max_size=300),
)
def test_arbitrary_headers_and_bodies(headers: list[tuple[str, str]], body: bytes) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "surrogatepass")
    _normalizes_or_rejects(b"From: a@example.com\r\n" + head + b"\r\n" + body)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400))
def test_text_stages_never_raise(text: str) -> None:
    split = split_reply(text)
    split_signature(split.text, "김서연", "kim@example.com")
    html_to_text(text)


def test_seeds_exist() -> None:
    assert len(SEEDS) >= 20
