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
        lags: Callable[[list[int]], Awaitable[dict[int, int | None]]],
        processed: Callable[[int], int | None],
        stall_after_s: float,
        rejoin: Callable[[], Awaitable[None]],
        active: Callable[[], bool] = lambda: True,
        stalled: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owned = owned
        self.lags = lags  # records not processed yet, by the broker's end offsets
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
        """Note each owned partition's progress; rejoin when some have stalled. A stalled
        partition stays listed until it moves (or is no longer this worker's), and another
        period without progress rejoins again. Lag comes from the broker's end offsets,
        not the consumer's last fetch (a partition never fetched has none)."""
        now = self.clock()
        if not self.active():  # recovering or rebalancing: no progress is expected
            self.progress = {}
            return
        owned = sorted(self.owned())
        lags = await self.lags(owned) if owned else {}
        due, moved = [], set()
        for partition in owned:
            offset = self.processed(partition)
            if partition not in self.progress:
                self.progress[partition] = (offset, now)
                continue
            seen, since = self.progress[partition]
            if offset != seen or lags.get(partition) == 0:
                moved.add(partition)
                self.progress[partition] = (offset, now)
            elif now - since >= self.stall_after_s:
                due.append(partition)
                self.progress[partition] = (offset, now)  # a full period after the rejoin
        self.progress = {p: v for p, v in self.progress.items() if p in owned}
        kept = [p for p in self.stalled if p in owned and p not in moved and p not in due]
        self.stalled = sorted([*kept, *due])
        if due:
            log.warning(
                "partitions %s have lag and processed nothing for %.0fs: rejoining the group",
                due,
                self.stall_after_s,
            )
            self.on_stalled()
            await self.rejoin()
