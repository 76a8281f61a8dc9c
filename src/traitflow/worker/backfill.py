"""Backfill: re-deciding every stored profile after definitions change, inside the stream.

``segments apply`` appends a job to each events partition. The worker owning that
partition re-evaluates ``CHUNK`` profiles of it, then appends a continuation job, so
live messages already queued are processed between chunks and never starve. Table writes
happen while handling a record of that very partition, so they reach the right changelog
partition. Progress goes to the compacted status topic for ``segments status``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from traitflow.clock import Clock
from traitflow.jobs import (
    JOB_KEY,
    BackfillJob,
    kind_headers,
    status_record,
)
from traitflow.membership import Cause, Transition
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.conditions import Dep
from traitflow.segments.engine import decide
from traitflow.worker.batch import Outbox
from traitflow.worker.metrics import WorkerMetrics
from traitflow.worker.redecide import re_decide
from traitflow.worker.store.profiles import ProfileStore
from traitflow.worker.timers import due_flips

log = logging.getLogger(__name__)

CHUNK = 200


class Backfiller:
    """Runs one chunk of a backfill job on the partition it arrived on."""

    def __init__(
        self,
        registry: Registry,
        store: ProfileStore,
        outbox: Outbox,
        definitions_loaded: Callable[[int], Awaitable[None]],
        clock: Clock,
        metrics: WorkerMetrics,
    ) -> None:
        self.metrics = metrics
        self.registry = registry
        self.store = store
        self.outbox = outbox
        self.definitions_loaded = definitions_loaded
        self.clock = clock

    async def run_chunk(self, job: BackfillJob, partition: int) -> None:
        await self.definitions_loaded(job.version)
        after = job.after.encode() if job.after is not None else None
        keys = self.store.profile_keys(partition, after, CHUNK)
        cause = Cause(f"backfill-{job.version}", "backfill", kind="backfill")
        for key in keys:
            await self._refresh(key, partition, cause, job)
        finished = len(keys) < CHUNK
        self.metrics.backfill_profiles.inc(len(keys))
        self.metrics.backfill_running.labels(str(partition)).set(0 if finished else 1)
        sinks = self.outbox.sinks
        status = (*status_record(job, len(keys), finished), None)
        await self.outbox.send(sinks.status, [status])
        if not finished:
            follow = job.next(keys[-1], len(keys))
            record = (JOB_KEY, follow.to_bytes(), kind_headers())
            await self.outbox.send(sinks.events, [record], partition=partition)
        log.info(
            "backfill v%d partition %d: %d profiles",
            job.version,
            partition,
            job.done + len(keys),
        )

    async def _refresh(self, key: bytes, partition: int, cause: Cause, job: BackfillJob) -> None:
        now = self.clock.now_ms()

        deps: set[Dep] = {("feature", feature) for feature in job.features}

        def decide_now(profile: Profile) -> list[tuple[Transition, Cause]]:
            if job.replay:  # the replay is complete: its marks have done their job
                mark = f"{job.replay}/"
                profile.replayed = {
                    k: v for k, v in profile.replayed.items() if not k.startswith(mark)
                }
            overdue = due_flips(profile, self.registry, now)
            return [*overdue, *((t, cause) for t in decide(profile, self.registry, deps, now, now))]

        await re_decide(self.store, self.outbox, key, partition, decide_now, self.registry)
