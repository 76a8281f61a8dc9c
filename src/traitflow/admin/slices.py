"""Long admin work (a preview over many profiles) done a slice at a time on the worker's
event loop, so a message never waits behind it for more than about one slice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
SLICE_S = 0.02  # how long admin work holds the loop before letting the batches run


async def in_slices(
    items: Iterable[T],
    work: Callable[[T], None],
    slice_s: float = SLICE_S,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """``work`` on each item, giving the loop a turn whenever ``slice_s`` has passed;
    how many turns were given."""
    turns = 0
    started = clock()
    for item in items:
        work(item)
        if clock() - started >= slice_s:
            await pause(0)
            turns += 1
            started = clock()
    return turns
