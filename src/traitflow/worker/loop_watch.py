"""How long the worker's event loop runs without a turn for anything else.

Messages, health probes and admin requests share one loop. A timer due every ``every_s``
measures the CPU time the loop's thread spent between two of its turns: work that held
the loop (a long admin request, a big batch) shows as a long hold, whatever else the
machine was doing meanwhile (CPU time, not wall time: a busy neighbour does not count).
``traitflow_loop_held_seconds`` has them; docs/operating.md says what to watch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

WATCH_EVERY_S = 0.025


async def watch_loop(
    observe: Callable[[float], None],
    every_s: float = WATCH_EVERY_S,
    cpu: Callable[[], float] = time.thread_time,
) -> None:
    """Forever: ``observe`` the loop thread's CPU time between two turns of the timer."""
    before = cpu()
    while True:
        await asyncio.sleep(every_s)
        now = cpu()
        observe(now - before)
        before = now
