"""Which tenant a JSON e-mail event lands in: never another tenant than the one it was sent for."""

from __future__ import annotations

import json

import pytest

from services.ingest.handlers import decode_incoming
from services.ingest.normalize import BadEmail
from services.ingest.settings import IngestSettings

EVENT = {
    "from": "kim@buyer.co.kr",
    "subject": "견적 요청",
    "text": "밸브 10개 견적 부탁드립니다.",
    "message_id": "<m1@buyer>",
}


def _body(**extra: str) -> bytes:
    return json.dumps({**EVENT, **extra}).encode()


def test_event_naming_no_tenant_goes_to_the_configured_tenant() -> None:
    incoming = decode_incoming(_body(), IngestSettings(tenant="acme"), tenant=None, arrival=0)
    assert incoming.tenant == "acme"


def test_event_naming_no_tenant_takes_the_header_tenant() -> None:
    incoming = decode_incoming(_body(), IngestSettings(tenant="acme"), tenant="beta", arrival=0)
    assert incoming.tenant == "beta"


def test_event_naming_default_explicitly_is_not_moved_to_the_configured_tenant() -> None:
    incoming = decode_incoming(_body(tenant="default"), IngestSettings(tenant="acme"), tenant=None, arrival=0)
    assert incoming.tenant == "default"


def test_event_whose_tenant_contradicts_its_header_is_refused() -> None:
    with pytest.raises(BadEmail, match="x-quoteflow-tenant"):
        decode_incoming(_body(tenant="acme"), IngestSettings(), tenant="beta", arrival=0)


def test_explicit_default_contradicting_the_header_is_refused() -> None:
    with pytest.raises(BadEmail, match="x-quoteflow-tenant"):
        decode_incoming(_body(tenant="default"), IngestSettings(), tenant="beta", arrival=0)


def test_event_whose_tenant_matches_its_header_is_accepted() -> None:
    incoming = decode_incoming(_body(tenant="beta"), IngestSettings(), tenant="beta", arrival=0)
    assert incoming.tenant == "beta"
