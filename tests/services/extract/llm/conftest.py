"""Threads, answers and engines for the LLM engine tests (the talk's example thread, built in code)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.extract.adapters import AdapterState
from services.extract.engine import Extraction
from services.extract.llm.client import build_backend
from services.extract.llm.engine import LlmEngine
from services.extract.llm.fewshot import FewShotSelector
from services.extract.settings import ExtractSettings
from shared.events import KeyFacts, NormalizedMessage, NormalizedThread
from shared.store import Store
from tests.conftest import SPEC_EXAMPLE_FACTS
from tests.support.tgi_server import TgiTestServer

BUYER = ("김서연", "seoyeon.kim@hanbit-trading.co.kr", "한빛무역")
SUPPLIER = ("박준호", "junho.park@daeyang-parts.com", "대양부품")
TALK_TEXTS = [
    (
        "buyer",
        "안녕하세요, 귀사의 제품에 대해 더 많은 정보를 알고 싶습니다. "
        "특히 X 제품의 가격과 배송 기간에 대해 알려주시면 감사하겠습니다.",
    ),
    (
        "supplier",
        "안녕하세요. X 제품의 가격은 개당 10,000원이며, 최소 주문 수량은 50개입니다. "
        "배송 기간은 주문 후 약 7일 정도 소요됩니다.",
    ),
    ("buyer", "가격을 조금 조정할 수 있을까요? 100개를 주문하면 할인이 가능한지 알고 싶습니다."),
    (
        "supplier",
        "100개 주문 시 5% 할인을 제공해드릴 수 있습니다. 이 경우 개당 9,500원이 되며, 배송 기간은 동일하게 유지됩니다.",
    ),
    ("buyer", "최종 조건으로 견적서를 보내주시면 감사하겠습니다. 확인 후 바로 주문하겠습니다."),
    ("supplier", "첨부된 견적서를 확인해주시기 바랍니다. 기타 문의 사항이 있으시면 언제든지 연락 주십시오."),
]
TALK_FACTS: dict[str, Any] = SPEC_EXAMPLE_FACTS
TALK_SUMMARY = (
    "1. 김서연: X 제품 가격 문의\n2. 박준호: 개당 10,000원, MOQ 50개, 7일\n최종: 100개, 5% 할인, 개당 9,500원"
)
TALK_TAGS = ["가격 협상", "견적 요청", "할인"]


def make_thread(
    texts: list[tuple[str, str]],
    *,
    thread_id: str = "t-talk",
    subject: str = "X 제품 가격 문의",
    tenant: str = "default",
) -> NormalizedThread:
    """A normalized thread alternating the two parties of the talk's example."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    messages = []
    for index, (role, text) in enumerate(texts):
        name, email, company = BUYER if role == "buyer" else SUPPLIER
        other = SUPPLIER if role == "buyer" else BUYER
        messages.append(
            NormalizedMessage(
                message_id=f"{thread_id}-{index + 1}@example.com",
                in_reply_to=f"{thread_id}-{index}@example.com" if index else None,
                sender_name=name,
                sender_email=email,
                sender_company=company,
                to=[other[1]],
                role=role,  # type: ignore[arg-type]
                date=start + timedelta(hours=3 * index),
                subject=subject if index == 0 else f"RE: {subject}",
                language="ko",
                text=text,
                content_hash=f"h{index}",
                arrival=index,
            )
        )
    return NormalizedThread(
        thread_id=thread_id,
        tenant=tenant,
        version=len(messages),
        subject=subject,
        language="ko",
        messages=messages,
        updated_at=start,
    )


def answer_json(facts: dict[str, Any] | None = None) -> str:
    """The model's answer to the key-facts task."""
    return json.dumps(facts or TALK_FACTS, ensure_ascii=False)


def summary_json(summary: str | None = TALK_SUMMARY, tags: Any = TALK_TAGS) -> str:
    """The model's answer to the summary-and-tags task."""
    return json.dumps({"summary": summary, "tags": tags}, ensure_ascii=False)


def talk_replies(facts: dict[str, Any] | None = None) -> tuple[str, str]:
    """The two answers of one thread: key facts, then summary and tags."""
    return answer_json(facts), summary_json()


def facts_with(**changes: Any) -> dict[str, Any]:
    facts = json.loads(json.dumps(TALK_FACTS))
    for path, value in changes.items():
        node: Any = facts
        parts = path.split("__")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        node[parts[-1]] = value
    return facts


@dataclass
class FixedRules:
    """Stands in for the rules engine (being rewritten elsewhere) where a test needs its answer fixed."""

    facts: KeyFacts
    name: str = "rules"

    async def extract(self, thread: NormalizedThread) -> Extraction:
        return Extraction(facts=self.facts.model_copy(deep=True), summary="rules summary", engine="rules")


def make_engine(
    server: TgiTestServer,
    *,
    store: Store | None = None,
    rules: Any = None,
    flavour: str = "tgi",
    api: str = "generate",
    **overrides: Any,
) -> LlmEngine:
    """An LLM engine wired to the test server over real HTTP, with fast retries."""
    values: dict[str, Any] = {
        "engine": "llm",
        "llm_url": server.url,
        "llm_flavour": flavour,
        "llm_api": api,
        "llm_timeout_s": 5.0,
        "llm_backoff_s": 0.01,
        "llm_backoff_max_s": 0.05,
        "llm_total_budget_s": 20.0,
    }
    values.update(overrides)
    settings = ExtractSettings(**values)
    backend = build_backend(
        settings.llm_url or "", settings.llm_flavour, api=settings.llm_api, timeout_s=settings.llm_timeout_s
    )
    return LlmEngine(
        backend,
        settings,
        rules=rules or FixedRules(KeyFacts.model_validate(TALK_FACTS)),
        adapters=AdapterState(store=store, configured_id=settings.llm_adapter_id),
        fewshot=FewShotSelector(store=store),
    )


@pytest.fixture
def talk_thread() -> NormalizedThread:
    return make_thread(TALK_TEXTS)


@pytest.fixture
async def server() -> AsyncIterator[TgiTestServer]:
    async with TgiTestServer(lora_adapters=["extract-v3"]) as running:
        yield running


def english_thread() -> NormalizedThread:
    """Two short messages: a request for a quote and an offer."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    texts = [
        ("buyer", "Jane Lee", "jane@acme.example", "Hello, please quote 20 units of the T-100 pump."),
        ("supplier", "Tom Park", "tom@pumps.example", "The T-100 pump is 450 USD per unit, delivery in 14 days."),
    ]
    messages = [
        NormalizedMessage(
            message_id=f"m{index}@example.com",
            in_reply_to=f"m{index - 1}@example.com" if index else None,
            sender_name=name,
            sender_email=email,
            role=role,  # type: ignore[arg-type]
            date=start + timedelta(hours=index),
            subject="T-100 pump quote" if index == 0 else "RE: T-100 pump quote",
            language="en",
            text=text,
            content_hash=f"h{index}",
            arrival=index,
        )
        for index, (role, name, email, text) in enumerate(texts)
    ]
    return NormalizedThread(
        thread_id="t-pump",
        version=2,
        subject="T-100 pump quote",
        language="en",
        messages=messages,
        updated_at=start,
    )
