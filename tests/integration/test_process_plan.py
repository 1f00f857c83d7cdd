"""`process` knows before publishing what becomes of each file, against the real redis-server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.ingest.mailfiles import MailFile, assemble_offline, read_mail_files
from services.ingest.settings import IngestSettings
from services.pipeline import PipelineUnavailable, _already_seen, check_redis, plan_outcomes
from shared.embedded import free_port
from shared.store import RedisStore
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration


def _files(tmp_path: Path) -> list[MailFile]:
    talk = read_mail_files([EXAMPLES / "talk-x-product.mbox"])[0].messages
    return [
        MailFile(path=tmp_path / "a" / "quote.mbox", messages=talk[:3]),
        MailFile(path=tmp_path / "b" / "quote.mbox", messages=talk[3:]),
        MailFile(path=tmp_path / "c" / "again.mbox", messages=talk[:3]),
        MailFile(path=tmp_path / "d" / "junk.eml", messages=[b"\x00 junk"]),
    ]


async def test_plan_says_merged_duplicate_and_dead_lettered(tmp_path: Path) -> None:
    outcomes = await plan_outcomes(_files(tmp_path), IngestSettings())
    assert [(o.source, o.name, o.messages, o.note, o.settled) for o in outcomes] == [
        ("a/quote.mbox", "quote", 6, None, False),
        ("b/quote.mbox", "quote-2", 0, "merged into the thread of a/quote.mbox", True),
        ("c/again.mbox", "again", 0, "duplicate of a/quote.mbox", True),
        ("d/junk.eml", "junk", 0, "dead-lettered: binary data, not an e-mail", False),
    ]
    assert outcomes[1].thread_id == outcomes[2].thread_id == outcomes[0].thread_id
    assert [o.ok for o in outcomes] == [False, True, True, False]


async def test_files_redis_has_seen_are_reported_as_already_processed(redis_only: str, tmp_path: Path) -> None:
    settings = IngestSettings(redis_url=SecretStr(redis_only))
    files = _files(tmp_path)[:1]
    store = RedisStore(redis_only)
    try:
        await assemble_offline(files[0], settings, store)  # an earlier run
    finally:
        await store.close()
    outcomes = await plan_outcomes(files, settings)
    await _already_seen(outcomes, files, settings)
    assert (outcomes[0].note, outcomes[0].ok) == ("already processed (every message is a duplicate in Redis)", True)


async def test_an_unreachable_redis_is_named_without_its_password() -> None:
    port = free_port()
    settings = IngestSettings(redis_url=SecretStr(f"redis://:hunter2@127.0.0.1:{port}/0"))
    with pytest.raises(PipelineUnavailable) as caught:
        await check_redis(settings)
    assert str(caught.value) == f"Redis at 127.0.0.1:{port} unreachable"
