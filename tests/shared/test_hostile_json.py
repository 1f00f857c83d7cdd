"""Deeply nested JSON is refused at once as invalid (a dead letter without retries, one CLI line)."""

from __future__ import annotations

import re

import pytest

from services.cli_support import UserError
from services.quote.commands import read_documents
from shared.consumer import PermanentError, parse_event
from shared.events import EmailEvent

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_deeply_nested_event_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="nested too deeply"):
        parse_event(EmailEvent, ('{"text": ' + DEEP + "}").encode())


def test_deeply_nested_facts_are_one_user_error() -> None:
    with pytest.raises(UserError, match=re.escape("facts.json: not valid JSON (nested too deeply)")):
        read_documents('{"items": ' + DEEP + "}", "facts.json")
