"""`quoteflow serve review` as containers run it: uvicorn with the desk, ready on /readyz, stops on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from services.pipeline import ServiceProcess
from shared.embedded import free_port
from shared.settings import Settings
from tests.services.review.conftest import write_test_users

pytestmark = pytest.mark.integration


async def test_serve_review_answers_and_stops_on_sigterm(stack: Settings, tmp_path: Path) -> None:
    port = free_port()
    users = write_test_users(tmp_path / "users.yaml")
    process = ServiceProcess(
        "review", stack, env={"QUOTEFLOW_HTTP_PORT": str(port), "QUOTEFLOW_USERS_FILE": str(users)}
    )
    process.start(tmp_path / "review.log")
    try:
        await process.wait_ready(90)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            login = await http.get("/login")
            assert login.status_code == 200 and 'name="csrf_token"' in login.text
            assert (await http.get("/queue")).status_code == 303
            metrics = await http.get(f"http://127.0.0.1:{process.ops_port}/metrics")
            assert metrics.status_code == 200
        process.signal(signal.SIGTERM)
        assert process.wait(30) == 0, (tmp_path / "review.log").read_text()
    finally:
        process.stop()
