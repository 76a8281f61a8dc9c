"""Time-driven membership: due instants processed per partition, inside the stream.

``TickScheduler`` (a background task, read-only) looks at the first schedule key of each
partition this worker owns, every ``tick_s``; when it is due, it appends a tick job to
that events partition. ``Ticker`` handles the job in the agent, like any record of the
partition: profiles due by then are advanced in due order, their events published
(``cause.kind: time``), their state and schedule entries written and changelogged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from traitflow.clock import Clock
from traitflow.jobs import JOB_KEY, TickJob, kind_headers
from traitflow.membership import Cause, Transition
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.engine import advance
from traitflow.worker.batch import Outbox
from traitflow.worker.redecide import re_decide
from traitflow.worker.sinks import OutRecord, Sink, send_and_wait
from traitflow.worker.store.profiles import ProfileStore

log = logging.getLogger(__name__)

CHUNK = 500
RESEND_AFTER_S = 10.0


class Ticker:
    def __init__(self, registry: Registry, store: ProfileStore, outbox: Outbox) -> None:
        self.registry = registry
        self.store = store
        self.outbox = outbox
        self.sinks = outbox.sinks
        self.outstanding: dict[int, float] = {}  # partition -> when its tick was sent

    async def run_tick(self, job: TickJob, partition: int) -> None:
        due = self.store.due(partition, job.until_ms, CHUNK)
        for instant, person in due:
            if not await self._advance(person, partition, job.until_ms):
                self.store.drop_due(instant, person)  # no profile to advance: never due
        if len(due) == CHUNK:  # the next chunk, after live messages
            record = tick_record(job.until_ms)
            await self.outbox.send(self.sinks.events, [record], partition=partition)
        else:
            self.outstanding.pop(partition, None)

    async def _advance(self, person: bytes, partition: int, now_ms: int) -> bool:
        def flips(profile: Profile) -> list[tuple[Transition, Cause]]:
            return due_flips(profile, self.registry, now_ms)

        return await re_decide(self.store, self.outbox, person, partition, flips, self.registry)


def due_flips(profile: Profile, registry: Registry, now_ms: int) -> list[tuple[Transition, Cause]]:
    """The flips of every instant due by ``now_ms``, each decided at its own instant, with
    their time causes: what a tick does, and what a backfill does first (a backfill that
    decided only at ``now`` would skip an enter and exit both overdue, as after a restart
    that reprocesses a backfill job once the clock has moved on)."""
    return [
        (t, Cause(f"time-{t.at_ms}", "time", kind="time", condition=condition))
        for t, condition in advance(profile, registry, now_ms)
    ]


class TickScheduler:
    """Asks owned partitions to process due instants; costs one key lookup per partition."""

    def __init__(
        self,
        ticker: Ticker,
        clock: Clock,
        tick_s: float,
        owned_partitions: Callable[[], Iterable[int]],
    ) -> None:
        self.ticker = ticker
        self.clock = clock
        self.tick_s = tick_s
        self.owned_partitions = owned_partitions

    async def run(self) -> None:
        await run_every(self.tick_s, self.tick_once, "timer tick")

    async def tick_once(self) -> None:
        now = self.clock.now_ms()
        for partition in self.owned_partitions():
            sent = self.ticker.outstanding.get(partition)
            if sent is not None and time.monotonic() - sent < RESEND_AFTER_S:
                continue
            store = self.ticker.store
            first = store.first_due(partition)
            if first is not None and first <= now:
                self.ticker.outstanding[partition] = time.monotonic()
                await send_tick(self.ticker.sinks.events, partition, now)


async def run_every(seconds: float, action: Callable[[], Awaitable[None]], what: str) -> None:
    """Call ``action`` every ``seconds`` until cancelled; a failure is logged and the
    next call goes ahead."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except Exception:
            log.exception("%s failed; trying again in %gs", what, seconds)


def tick_record(until_ms: int) -> OutRecord:
    return JOB_KEY, TickJob(until_ms).to_bytes(), kind_headers("tick")


async def send_tick(events: Sink, partition: int, until_ms: int) -> None:
    """From the timer task, outside any batch: sent and acknowledged at once."""
    await send_and_wait(events, [tick_record(until_ms)], partition=partition)
