"""Long admin work (a preview over many profiles) done a slice at a time on the worker's
event loop, so a message never waits behind it for more than about one slice.

Between slices the loop gets a short pause, not a single turn: a message's way through
the worker (the fetch handed over from the consumer's thread, the sends, their
acknowledgements, the changelog writes) takes many turns of the loop and several round
trips to Kafka. Given one turn per slice, it advanced one step every 20 ms and was seen
on Apache Kafka to finish only as a 4 s preview ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
SLICE_S = 0.02  # how long admin work holds the loop before letting the batches run
PAUSE_S = 0.002  # then how long the loop runs everything else (a tenth of the slice)


async def in_slices(
    items: Iterable[T],
    work: Callable[[T], None],
    slice_s: float = SLICE_S,
    pause_s: float = PAUSE_S,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """``work`` on each item, pausing ``pause_s`` whenever ``slice_s`` has passed; how many
    pauses were made."""
    turns = 0
    started = clock()
    for item in items:
        work(item)
        if clock() - started >= slice_s:
            await pause(pause_s)
            turns += 1
            started = clock()
    return turns
