"""Whatever bytes arrive, normalization returns a message or raises BadEmail with a reason, nothing else."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.html_text import html_to_text
from services.ingest.normalize import BadEmail, normalize_raw, raw_digest
from services.ingest.quoting import split_reply
from services.ingest.settings import IngestSettings
from services.ingest.signatures import split_signature
from shared.events import NormalizedMessage
from tests.services.ingest.conftest import BAD_EMAIL_REASON, INGEST_FIXTURES

SEEDS = [p.read_bytes() for p in sorted(INGEST_FIXTURES.rglob("*.eml"))]
SETTINGS = IngestSettings()
_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")
"""Zero-width characters and the soft hyphen, which html_to_text drops."""


def _normalizes_or_rejects(raw: bytes) -> NormalizedMessage | None:
    """The message, checked whole, or None after a BadEmail whose reason is one normalize_raw documents."""
    try:
        incoming = normalize_raw(raw, SETTINGS)
    except BadEmail as exc:
        assert BAD_EMAIL_REASON.fullmatch(str(exc)), str(exc)
        return None
    message = incoming.message
    assert message.content_hash == raw_digest(raw)
    assert message.message_id and not message.message_id.startswith("<") and not message.message_id.endswith(">")
    assert message.sender_email or message.sender_name
    assert message.text == message.text.strip() and len(message.text) <= SETTINGS.max_text_chars
    assert incoming.warnings == message.warnings and len(set(message.warnings)) == len(message.warnings)
    assert NormalizedMessage.model_validate_json(message.model_dump_json()) == message
    return message


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
    message = _normalizes_or_rejects(b"From: a@example.com\r\n" + head + b"\r\n" + body)
    if message is not None:
        assert message.sender_email == "a@example.com"  # the first From header is the sender


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400))
def test_text_stages_never_raise(text: str) -> None:
    """Each stage returns text taken from its input, nothing invented."""
    split = split_reply(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    assert split.text == split.text.strip()
    for line in split.text.split("\n"):
        assert line in lines
    cut = split_signature(split.text, "김서연", "kim@example.com")
    if cut.signature is None:
        assert cut.text == split.text
    else:
        assert cut.text and split.text.startswith(cut.text) and split.text.endswith(cut.signature)
        assert cut.signature == cut.signature.strip()
    plain = html_to_text(text)
    assert plain == plain.strip("\n ") and "\n\n\n" not in plain
    if "<" not in text and "&" not in text:  # no markup: the same words, less the invisible characters
        assert plain.split() == _INVISIBLE.sub("", text).split()


def test_seeds_exist() -> None:
    assert len(SEEDS) >= 20
