"""Retention: profiles with no message for ``profile_ttl_days`` are deleted.

Every ``retention_sweep_s``, the worker appends a sweep job to each events partition it
owns. The handler carries it out like any record of that partition: a chunk of the
partition's profiles is read, the ones last seen before the cutoff are deleted through
the same path as a deletion request (their members exit with cause ``expired``), and the
next chunk is asked for with another job, so live messages are processed in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from traitflow.clock import Clock
from traitflow.jobs import JOB_KEY, SweepJob, kind_headers
from traitflow.worker.sinks import OutRecord, Sink, send_and_wait
from traitflow.worker.timers import run_every

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
CHUNK = 500  # profiles read per sweep job


class RetentionScheduler:
    def __init__(
        self,
        ttl_days: float,
        every_s: float,
        clock: Clock,
        owned_partitions: Callable[[], Iterable[int]],
        events: Sink,
    ) -> None:
        self.ttl_ms = int(ttl_days * DAY_MS)
        self.every_s = every_s
        self.clock = clock
        self.owned_partitions = owned_partitions
        self.events = events

    async def run(self) -> None:
        await run_every(self.every_s, self.sweep_once, "retention sweep")

    async def sweep_once(self) -> None:
        cutoff = self.clock.now_ms() - self.ttl_ms
        for partition in self.owned_partitions():
            await send_sweep(self.events, SweepJob(partition, cutoff))


def sweep_record(job: SweepJob) -> OutRecord:
    return JOB_KEY, job.to_bytes(), kind_headers("sweep")


async def send_sweep(events: Sink, job: SweepJob) -> None:
    """From the retention task, outside any batch: sent and acknowledged at once."""
    await send_and_wait(events, [sweep_record(job)], partition=job.partition)
