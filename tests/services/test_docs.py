"""`make docs`: every service's AsyncAPI document names its topics and their event schemas."""

from __future__ import annotations

import json
from pathlib import Path

from services.docs import TOPIC_MODELS, main, service_document
from services.pipeline import ALL_SERVICE_NAMES as SERVICE_NAMES
from shared import topics

CONSUMES = {
    "ingest": topics.EMAILS_RAW,
    "extract": topics.THREADS_NORMALIZED,
    "quote": topics.FACTS_EXTRACTED,
    "trainer": topics.FACTS_CORRECTED,
    "review": topics.FACTS_EXTRACTED,
}


def _resolve(document: dict[str, object], ref: str) -> object:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict), ref
        node = node[part]
    return node


def test_each_service_documents_what_it_consumes_with_the_event_schema() -> None:
    for name in SERVICE_NAMES:
        document = service_document(name)
        addresses = {c["address"] for c in document["channels"].values()}
        assert CONSUMES[name] in addresses, name
        for channel in document["channels"].values():
            model = TOPIC_MODELS[channel["address"]]
            for ref in channel["messages"].values():
                message = _resolve(document, ref["$ref"])
                assert isinstance(message, dict)
                text = json.dumps(message["payload"])
                assert f"#/components/schemas/{model.__name__}" in text
                assert _resolve(document, f"#/components/schemas/{model.__name__}")


def test_make_docs_writes_one_file_per_service(tmp_path: Path) -> None:
    main(["docs", str(tmp_path)])
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(SERVICE_NAMES)
    quote = json.loads((tmp_path / "quote.json").read_text())
    assert quote["asyncapi"] == "3.0.0"
    assert "QuoteGenerated" in quote["components"]["schemas"]
