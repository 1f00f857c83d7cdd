"""Fixtures of the review desk tests: a thread and its rules-engine facts, users, and the desk on faststream's
TestKafkaBroker with FastAPI's TestClient."""

from __future__ import annotations

import re
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from faststream.kafka import TestKafkaBroker
from faststream.kafka.fastapi import KafkaMessage

from services.extract.handlers import to_event
from services.extract.rules import RulesEngine
from services.ingest.mailfiles import assemble_offline, read_mail_files
from services.ingest.settings import IngestSettings
from services.review.main import ReviewRuntime, build_service
from services.review.settings import ReviewSettings
from services.review.users import User, hash_password, write_users
from shared import topics
from shared.events import FactsCorrected, FactsExtracted, NormalizedThread
from shared.keys import thread_key
from shared.store import MemoryStore
from tests.conftest import EXAMPLES

warnings.filterwarnings("ignore", category=DeprecationWarning, module="faststream.*")
PASSWORDS = {"minji": "hanbit-review-1", "tom": "other-tenant-2", "both": "two-tenants-3"}
TENANTS = {"minji": ("default",), "tom": ("other",), "both": ("default", "other")}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BASIS = re.compile(r'name="basis" value="([^"]+)"')


async def thread_and_facts(path: Path, tenant: str = "default") -> tuple[NormalizedThread, FactsExtracted]:
    settings = IngestSettings(tenant=tenant)
    thread = await assemble_offline(read_mail_files([path])[0], settings)
    assert thread is not None
    return thread, to_event(thread, RulesEngine().extract_sync(thread))


@pytest_asyncio.fixture
async def talk() -> tuple[NormalizedThread, FactsExtracted]:
    """The talk's Korean thread (SPEC §1) and the rules engine's facts of it."""
    return await thread_and_facts(EXAMPLES / "talk-x-product.mbox")


def write_test_users(path: Path) -> Path:
    write_users(path, {name: User(name, TENANTS[name], hash_password(pw)) for name, pw in PASSWORDS.items()})
    return path


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return write_test_users(tmp_path / "review-users.yaml")


@dataclass
class Desk:
    runtime: ReviewRuntime
    client: TestClient
    broker: object
    store: MemoryStore
    corrections: list[FactsCorrected] = field(default_factory=list)

    async def publish(self, topic: str, body: bytes, key: str) -> None:
        await self.broker.publish(body, topic, key=key.encode())  # type: ignore[attr-defined]

    async def add_thread(self, thread: NormalizedThread, facts: FactsExtracted) -> None:
        """Ingest's state of the thread, then its facts on the topic (as the pipeline would)."""
        await self.store.set(thread_key(thread.tenant, thread.thread_id), thread.model_dump_json())
        await self.publish(topics.FACTS_EXTRACTED, facts.model_dump_json().encode(), facts.thread_id)

    def login(self, name: str, password: str | None = None) -> str:
        """Sign in; returns the session's CSRF token."""
        page = self.client.get("/login")
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        response = self.client.post(
            "/login",
            data={"csrf_token": token, "username": name, "password": password or PASSWORDS[name], "next": "/queue"},
        )
        assert response.status_code == 200, response.text
        return self.csrf("/queue")

    def csrf(self, path: str) -> str:
        return CSRF.search(self.client.get(path).text).group(1)  # type: ignore[union-attr]

    def basis(self, path: str) -> str:
        return BASIS.search(self.client.get(path).text).group(1)  # type: ignore[union-attr]


def desk_settings(users_file: Path, **overrides: object) -> ReviewSettings:
    return ReviewSettings(
        kafka_bootstrap="localhost:9",
        redis_url="redis://unused",
        kafka_create_topics=False,
        users_file=users_file,
        **overrides,  # type: ignore[arg-type]
    )


@pytest_asyncio.fixture
async def desk(users_file: Path) -> AsyncIterator[Desk]:
    async for found in make_desk(desk_settings(users_file)):
        yield found


async def make_desk(settings: ReviewSettings) -> AsyncIterator[Desk]:
    store = MemoryStore()
    runtime = build_service(settings, store=store)
    corrections: list[FactsCorrected] = []

    @runtime.router.subscriber(topics.FACTS_CORRECTED, group_id="test-collector")
    async def collect(msg: KafkaMessage) -> None:
        corrections.append(FactsCorrected.model_validate_json(msg.body))

    async with TestKafkaBroker(runtime.broker) as broker:
        with TestClient(runtime.web) as client:
            yield Desk(runtime, client, broker, store, corrections)


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
