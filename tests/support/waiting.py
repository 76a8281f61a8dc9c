"""The one way tests wait for something a worker or a broker does: poll, never sleep a
fixed time and hope."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T],
    done: Callable[[T], object] = bool,
    *,
    timeout: float = 30.0,
    every: float = 0.2,
) -> T:
    """Call ``probe`` (plain or async) until ``done`` holds for what it returns, at most
    ``timeout`` seconds; return the last result either way, so the caller's assertions
    say what was wrong when it never came."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        result: T = await found if inspect.isawaitable(found) else found  # type: ignore[assignment]
        if done(result) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(every)
