"""Bad input is a permanent error (dead letter); a failing dependency is retried."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.consumer import PermanentError, _is_permanent, _is_transient, error_headers, parse_event
from shared.events import FactsCorrected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe garbage", "invalid JSON"),
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"schema_version": 2, "thread_id": "t"}', "unsupported schema_version 2"),
        (b'{"thread_id": "t"}', "invalid FactsCorrected"),
    ],
)
def test_parse_event_explains_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(PermanentError, match=reason):
        parse_event(FactsCorrected, body)


def test_parse_event_accepts_a_valid_event() -> None:
    event = parse_event(FactsCorrected, b'{"thread_id": "t-1", "facts": {}}')
    assert event.thread_id == "t-1"


def test_error_classes() -> None:
    assert _is_permanent(PermanentError("x"))
    assert _is_transient(RedisConnectionError("down"))
    assert _is_transient(TimeoutError())
    assert not _is_transient(ValueError("bug")) and not _is_permanent(ValueError("bug"))


def test_dead_letter_headers_carry_class_message_and_attempt() -> None:
    headers = error_headers(PermanentError("bad\nthing"), 3, "quoteflow.emails.raw", "ingest", None)
    assert headers["x-quoteflow-dlq-error-class"] == "shared.consumer.PermanentError"
    assert headers["x-quoteflow-dlq-error-message"] == "bad thing"
    assert headers["x-quoteflow-dlq-attempt"] == "3"
    assert headers["x-quoteflow-dlq-source-topic"] == "quoteflow.emails.raw"
