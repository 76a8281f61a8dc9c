"""Prometheus metrics of a worker, served with Faust's own sensors at ``/metrics``.

Each worker application has its own registry (agent tests build several in one process).
Labels are bounded: message types, reason kinds, segment keys and directions; never people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from traitflow.ingest.messages import MESSAGE_TYPES

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "traitflow_messages",
            "Messages processed from the events topic, by Segment type.",
            ["type"],
            registry=self.registry,
        )
        self.messages_of_type = {kind: self.messages.labels(kind) for kind in MESSAGE_TYPES}
        self.dead_letters = Counter(
            "traitflow_dead_letters",
            "Records sent to the dead-letter topic, by kind of reason (the kind each refusal "
            "names: not_json, too_deep, junk_identifier, profile_too_large, ...).",
            ["reason"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "traitflow_membership_transitions",
            "Membership events published, by segment and direction.",
            ["segment", "direction"],
            registry=self.registry,
        )
        self._transition_counters: dict[tuple[str, str], Any] = {}  # labels() takes a lock
        self.evaluation = Histogram(
            "traitflow_evaluation_seconds",
            "Time to apply one message to its profile and decide memberships.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.batch_records = Histogram(
            "traitflow_batch_records",
            "Records per batch: their sends acknowledged together, their writes made once.",
            registry=self.registry,
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
        )
        self.end_to_end = Histogram(
            "traitflow_end_to_end_seconds",
            "From a message's timestamp to its membership events being acknowledged.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.loop_held = Histogram(
            "traitflow_loop_held_seconds",
            "CPU time the worker's event loop ran between two turns of a 25 ms watch timer: "
            "how long a message or a health probe could wait behind other work.",
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )

        self.duplicates = Counter(
            "traitflow_duplicate_messages",
            "Messages not applied: their messageId was applied to the person within the "
            "deduplication window (a retry).",
            registry=self.registry,
        )
        self.suppressed = Counter(
            "traitflow_suppressed_messages",
            "Messages dropped because an id they name is suppressed (traitflow people "
            "delete --suppress).",
            registry=self.registry,
        )
        self.suppressed_ids = Gauge(
            "traitflow_suppressed_ids",
            "Ids on the suppression list this worker holds (hashes; see docs/privacy.md).",
            registry=self.registry,
        )
        self.feed_skipped = Gauge(
            "traitflow_feed_skipped_records",
            "Records of a compacted feed (segments, suppressions) that could not be read and "
            "were skipped since start (logged with topic, partition and offset).",
            ["topic"],
            registry=self.registry,
        )
        self.people_deleted = Counter(
            "traitflow_people_deleted",
            "Profiles deleted on request (traitflow people delete, DELETE /admin/people).",
            registry=self.registry,
        )
        self.profiles_expired = Counter(
            "traitflow_profiles_expired",
            "Profiles deleted by retention: no message for profile_ttl_days.",
            registry=self.registry,
        )
        self.stalls = Counter(
            "traitflow_stalled_partitions",
            "Times an owned partition with lag fetched nothing for stall_after_s (the worker "
            "then rejoined its group).",
            registry=self.registry,
        )
        self.identity_merges = Counter(
            "traitflow_identity_merges",
            "Profiles merged into another person's (counted where the absorbed one lived).",
            registry=self.registry,
        )
        self.identity_refusals = Counter(
            "traitflow_identity_refusals",
            "Links refused by the identifier cap (each also dead-lettered with its reason).",
            registry=self.registry,
        )
        self.backfill_profiles = Counter(
            "traitflow_backfill_profiles",
            "Stored profiles re-evaluated by backfills after definitions changed.",
            registry=self.registry,
        )
        self.backfill_running = Gauge(
            "traitflow_backfill_running",
            "1 while a backfill is under way on the partition, else 0.",
            ["partition"],
            registry=self.registry,
        )

    def counted(self, message_type: str) -> None:
        """One more message of ``message_type`` (its counter looked up without a lock)."""
        self.messages_of_type[message_type].inc()

    def published(self, events: list[dict[str, Any]]) -> None:
        children = self._transition_counters
        for event in events:
            key = (str(event["segment"]), str(event["type"]).removeprefix("audience."))
            child = children.get(key)
            if child is None:
                child = children[key] = self.transitions.labels(*key)
            child.inc()


@dataclass(frozen=True)
class StateReadings:
    """What a scrape reads from the running worker, lazily, partition by partition."""

    partitions: Callable[[], list[int]]  # the events partitions this worker owns now
    lag: Callable[[int], int | None]  # records not yet processed, None before a fetch
    profiles: Callable[[int], int]
    timers: Callable[[int], tuple[int, float]]  # instants overdue, seconds behind
    disk_bytes: Callable[[], int]
    standby_lag: Callable[[], dict[tuple[str, int], int]]  # (changelog, partition) -> records


class StateCollector(Collector):
    """Gauges read at scrape time: lag, profiles, timer backlog, RocksDB size."""

    def __init__(self, readings: StateReadings) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        readings = self.readings
        lag = GaugeMetricFamily(
            "traitflow_consumer_lag",
            "Events records not yet processed, per owned partition.",
            labels=["partition"],
        )
        profiles = GaugeMetricFamily(
            "traitflow_profiles", "Profiles stored, per owned partition.", labels=["partition"]
        )
        overdue = GaugeMetricFamily(
            "traitflow_timer_backlog",
            "Scheduled instants already due and not yet processed, per owned partition.",
            labels=["partition"],
        )
        behind = GaugeMetricFamily(
            "traitflow_timer_delay_seconds",
            "How late the oldest due instant is, per owned partition.",
            labels=["partition"],
        )
        for partition in readings.partitions():
            label = [str(partition)]
            records = readings.lag(partition)
            if records is not None:
                lag.add_metric(label, records)
            profiles.add_metric(label, readings.profiles(partition))
            count, seconds = readings.timers(partition)
            overdue.add_metric(label, count)
            behind.add_metric(label, seconds)
        yield from (lag, profiles, overdue, behind)
        standby = GaugeMetricFamily(
            "traitflow_standby_lag",
            "Changelog records a standby copy of a table partition has not applied yet: what "
            "taking the partition over would still read before its first message.",
            labels=["changelog", "partition"],
        )
        for (changelog, partition), records in sorted(readings.standby_lag().items()):
            standby.add_metric([changelog, str(partition)], records)
        yield standby
        yield GaugeMetricFamily(
            "traitflow_rocksdb_size_bytes",
            "Bytes of this worker's RocksDB files (profiles and schedule).",
            value=readings.disk_bytes(),
        )


def directory_bytes(path: Path) -> int:
    """Total size of the files under ``path`` (0 when it does not exist yet)."""
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())
