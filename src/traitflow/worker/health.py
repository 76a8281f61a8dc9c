"""What a worker tells about itself: liveness, readiness, lag, stalled partitions and the
state gauges of ``/metrics``. Faust's private corners used for them (the consumer's
committed offsets and thread, the table manager's recovery) are kept here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import TP

from traitflow.broker.feed import CompactedFeed
from traitflow.config import Settings
from traitflow.worker.faust_private import committed_offset, request_rejoin, standby_applied
from traitflow.worker.handler import EventHandler
from traitflow.worker.metrics import StateReadings, WorkerMetrics, directory_bytes
from traitflow.worker.segment_feed import SegmentFeed
from traitflow.worker.stalls import StallWatch
from traitflow.worker.store.profiles import ProfileStore
from traitflow.worker.store.rocksdb import Store as ChangelogStore

TIMER_BACKLOG_CAP = 100_000  # counting further would slow a scrape down


def serve_health_and_metrics(
    app: faust.App, metrics: WorkerMetrics, feed: SegmentFeed, stalls: StallWatch,
    suppressed: CompactedFeed, handler: EventHandler,
) -> None:  # fmt: skip
    """``/metrics`` (ours and Faust's sensors), ``/healthz`` and ``/readyz`` on the web port."""
    setup_prometheus_sensors(app, registry=metrics.registry, name_prefix="traitflow_faust")
    for watched in (feed, suppressed):
        metrics.feed_skipped.labels(watched.partition.topic).set_function(
            lambda watched=watched: watched.skipped  # type: ignore[misc]
        )

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        """Joined the group, tables recovered, definitions and suppressions loaded, no
        partition stalled: it processes events (``degraded``: it does, and something
        needs an operator; ``degraded`` lists what)."""
        checks = {
            "group_joined": not app.rebalancing,
            "recovery_finished": recovered(app)(),
            "definitions_loaded": feed.ready.is_set(),
            "suppressions_loaded": suppressed.ready.is_set(),
            "no_partition_stalled": not stalls.stalled,
            "storage_sound": handler.storage_fault is None,
        }
        ready = all(checks.values())
        problems = degradations(feed, suppressed)
        status = "stalled" if stalls.stalled else "starting" if not ready else "ready"
        if handler.storage_fault is not None:
            status = "storage_fault"
            problems = [f"RocksDB fault, {handler.storage_fault}", *problems]
        if ready and problems:
            status = "degraded"
        return view.json({"status": status, **checks, "stalled_partitions": stalls.stalled,
                          "degraded": problems}, status=200 if ready else 503)  # fmt: skip


def degradations(feed: SegmentFeed, suppressed: CompactedFeed) -> list[str]:
    """What an operator must look at while the worker goes on: feeds that fail or skip
    records, definitions that cannot be read (their members are held)."""
    found = [
        f"definition {key!r} cannot be read, its members are held: {reason}"
        for key, reason in sorted(feed.registry.unreadable.items())
    ]
    for watched in (feed, suppressed):
        topic = watched.partition.topic
        if watched.failure is not None:
            found.append(f"the {topic} feed is failing: {watched.failure}")
        if watched.skipped:
            found.append(f"{watched.skipped} unreadable record(s) skipped on {topic}; "
                         f"the last: {watched.last_skipped}")  # fmt: skip
    found += [f"rebuilt from its changelog after RocksDB found it corrupt: {what}"
              for what in ChangelogStore.rebuilt]  # fmt: skip
    if ChangelogStore.skipped:
        found.append(f"{ChangelogStore.skipped} changelog record(s) without a key skipped "
                     "while restoring tables (see the log for where)")  # fmt: skip
    return found


def readings(
    app: faust.App, events: Any, handler: EventHandler, store: ProfileStore, owned: Any
) -> StateReadings:
    def timers(partition: int) -> tuple[int, float]:
        now = handler.clock.now_ms()
        first = store.first_due(partition)
        if first is None or first > now:
            return 0, 0.0
        return len(store.due(partition, now, TIMER_BACKLOG_CAP)), (now - first) / 1000

    return StateReadings(
        partitions=owned,
        lag=_lag_reader(app, events, handler),
        profiles=store.profile_count,
        timers=timers,
        disk_bytes=lambda: directory_bytes(Path(app.conf.tabledir)),
        standby_lag=lambda: standby_lag(app),
    )


def standby_lag(app: faust.App) -> dict[tuple[str, int], int]:
    """Per standby changelog partition, the records after the last one applied (Faust's
    recovery keeps the offsets applied; the consumer, the partition's end)."""
    found = {}
    for tp, applied in standby_applied(app).items():
        try:
            end = app.consumer.highwater(tp)
        except Exception:  # the consumer is not started or not assigned yet
            continue
        if end is None:
            continue
        found[(tp.topic, tp.partition)] = max(0, end - (applied + 1 if applied is not None else 0))
    return found


def _lag_reader(app: faust.App, events: Any, handler: EventHandler) -> Callable[[int], int | None]:
    """Records of an owned events partition not processed yet; None before its first fetch."""
    topic = events.get_topic_name()

    def lag(partition: int) -> int | None:
        tp = TP(topic, partition)
        try:
            highwater = app.consumer.highwater(tp)
        except Exception:  # the consumer is not started or not assigned yet
            return None
        if highwater is None:
            return None
        return max(0, highwater - _done(app, handler, tp))

    return lag


def _done(app: faust.App, handler: EventHandler, tp: TP) -> int:
    """The offset after the last record processed (since assignment, else Faust's commit)."""
    done = handler.processed.get(tp.partition)
    if done is None:
        done = committed_offset(app, tp)
    return done + 1 if done is not None else 0


def stall_watch(
    app: faust.App, events: Any, handler: EventHandler, owned: Any, settings: Settings,
    metrics: WorkerMetrics,
) -> StallWatch:  # fmt: skip
    async def rejoin() -> None:
        await request_rejoin(app)

    topic = events.get_topic_name()

    async def lags(partitions: list[int]) -> dict[int, int | None]:
        """From the broker's end offsets: the consumer's own stop at its last fetch."""
        ends = await app.consumer.highwaters(*(TP(topic, p) for p in partitions))
        found: dict[int, int | None] = {}
        for partition in partitions:
            end = ends.get(TP(topic, partition))
            done = _done(app, handler, TP(topic, partition))
            found[partition] = None if end is None else max(0, end - done)
        return found

    return StallWatch(
        owned=owned,
        lags=lags,
        processed=handler.processed.get,
        stall_after_s=settings.stall_after_s,
        rejoin=rejoin,
        active=recovered(app),
        stalled=metrics.stalls.inc,
    )


def recovered(app: faust.App) -> Callable[[], bool]:
    """True once the tables of the current assignment are restored from their changelogs."""
    tables: Any = app.tables  # the concrete TableManager has ``recovery``
    return lambda: bool(tables.recovery.completed.is_set()) and not app.rebalancing
