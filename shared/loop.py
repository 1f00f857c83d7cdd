"""Running a service's or command's top coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run the coroutine on uvloop where it is installed (Linux, macOS): a faster event loop for a service
    that spends much of its time in Kafka and Redis I/O."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    return uvloop.run(coro)
