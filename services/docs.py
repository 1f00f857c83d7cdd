"""Write the AsyncAPI document of every service (``make docs`` → docs/asyncapi/).

faststream describes each service's channels; handlers take raw bytes (so that bad
input can be dead-lettered), so the payload schema of each consumed topic is filled
in from the event model that the topic carries (shared/events.py).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from services import pipeline
from shared import topics
from shared.events import (
    AdapterEvent,
    EmailEvent,
    FactsCorrected,
    FactsExtracted,
    NormalizedThread,
    QuoteGenerated,
    StrictModel,
)
from shared.settings import Settings
from shared.store import MemoryStore

TOPIC_MODELS: dict[str, type[StrictModel]] = {
    topics.EMAILS_RAW: EmailEvent,
    topics.THREADS_NORMALIZED: NormalizedThread,
    topics.FACTS_EXTRACTED: FactsExtracted,
    topics.QUOTES_GENERATED: QuoteGenerated,
    topics.FACTS_CORRECTED: FactsCorrected,
    topics.MODELS_ADAPTERS: AdapterEvent,
}


def service_document(name: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service, with event models as payloads."""
    connections = Settings(kafka_bootstrap="kafka:9092", kafka_idempotence=True)
    runtime = pipeline.build_named_service(name, connections, store=MemoryStore())
    spec = AsyncAPI(
        runtime.broker,
        title=f"QuoteFlow {name}",
        version="1",
        description=(importlib.import_module(f"services.{name}").__doc__ or "").strip() or None,
        schema_version="3.0.0",
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    messages = components.get("messages", {})
    for channel in document.get("channels", {}).values():
        model = TOPIC_MODELS.get(channel.get("address", ""))
        if model is None:
            continue
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas[model.__name__] = schema
        payload: dict[str, Any] = {"$ref": f"#/components/schemas/{model.__name__}"}
        if channel["address"] == topics.EMAILS_RAW:
            raw = {"type": "string", "format": "binary", "description": "raw RFC 5322 message bytes"}
            payload = {"oneOf": [payload, raw]}
        for ref in channel.get("messages", {}).values():
            message_name = ref["$ref"].rsplit("/", 1)[-1]
            if message_name in messages:
                messages[message_name]["payload"] = payload
    # faststream's own payload schemas describe `bytes` (our handlers' raw input): replaced above.
    for generated in [name for name in schemas if name.endswith(":Payload")]:
        del schemas[generated]
    return document


def main(argv: list[str]) -> None:
    out = Path(argv[1] if len(argv) > 1 else "docs/asyncapi")
    out.mkdir(parents=True, exist_ok=True)
    for name in pipeline.SERVICE_NAMES:
        path = out / f"{name}.json"
        path.write_text(json.dumps(service_document(name), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv)
