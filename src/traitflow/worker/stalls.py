"""Partitions this worker owns but no longer moves: lag waits, nothing is processed.

The embedded broker sometimes leaves a group with an unchanged generation after a crash
during a rebalance; the members then report ready and never fetch the partitions they
were given. Whatever the cause, a partition with lag whose processed offset has not moved
for ``stall_after_s`` is stalled: ``/readyz`` says so, a metric counts it, and the worker
asks its consumer to rejoin the group (a new assignment fetches again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger(__name__)


class StallWatch:
    def __init__(
        self,
        owned: Callable[[], Iterable[int]],
        lag: Callable[[int], int | None],
        processed: Callable[[int], int | None],
        stall_after_s: float,
        rejoin: Callable[[], Awaitable[None]],
        active: Callable[[], bool] = lambda: True,
        stalled: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owned = owned
        self.lag = lag
        self.processed = processed
        self.stall_after_s = stall_after_s
        self.rejoin = rejoin
        self.active = active  # tables recovered, no rebalance under way: records should flow
        self.on_stalled = stalled  # counts each stall (a metric)
        self.clock = clock
        self.progress: dict[int, tuple[int | None, float]] = {}  # partition -> offset, since
        self.stalled: list[int] = []

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(self.stall_after_s / 4, 5.0))
            try:
                await self.check()
            except Exception:
                log.exception("stall check failed; trying again")

    async def check(self) -> None:
        """Note each owned partition's progress; rejoin once when some have stalled. A
        partition never fetched since its assignment has no known lag: that counts as lag."""
        now = self.clock()
        if not self.active():
            self.progress, self.stalled = {}, []
            return
        owned = set(self.owned())
        self.progress = {p: v for p, v in self.progress.items() if p in owned}
        stalled = []
        for partition in sorted(owned):
            offset = self.processed(partition)
            seen, since = self.progress.get(partition, (None, now))
            if partition not in self.progress or offset != seen or self.lag(partition) == 0:
                self.progress[partition] = (offset, now)
            elif now - since >= self.stall_after_s:
                stalled.append(partition)
        self.stalled = stalled
        if stalled:
            log.warning(
                "partitions %s have lag and processed nothing for %.0fs: rejoining the group",
                stalled,
                self.stall_after_s,
            )
            self.on_stalled()
            self.progress = {}  # each partition gets a full period after the rejoin
            await self.rejoin()
