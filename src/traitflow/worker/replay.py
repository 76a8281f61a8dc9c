"""Replaying history into new features (``traitflow.segments.replay``), inside the stream.

``segments apply`` appends a replay job to every events partition after the
definitions. On partition P that job is the **barrier**: live messages after it count
the new features; the log before it (from the window's start) is read back a chunk per
job, each message sent, as a replay item, to the partition of the profile that holds
it now (``Resolver.holder_of``). When P has read everything it sends "done" to every
partition; a partition that has heard from all of them stops holding the segments that
read those features and re-decides its profiles (membership events with cause
``backfill``).

Per partition and replay, the state (barrier, next offset, partitions done, complete) is
a row of the changelogged ``replays`` table, so a restart or a rebalance resumes where the
partition was: a repeated chunk job is recognised by its offset, a repeated item by
the position each profile keeps per replay, source partition and holder.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from traitflow.broker.partitioner import partition_of
from traitflow.clock import Clock
from traitflow.identity.ids import routing_identifier
from traitflow.identity.resolver import Resolver
from traitflow.ingest.bundles import position
from traitflow.ingest.messages import Limits, Message, parse_message
from traitflow.ingest.records import Messages, read_events_record
from traitflow.jobs import (
    JOB_KEY,
    BackfillJob,
    ReplayApply,
    ReplayDone,
    ReplayItem,
    ReplayJob,
    kind_headers,
)
from traitflow.membership import Cause, membership_event
from traitflow.privacy.suppressions import Suppressions
from traitflow.segments import Registry
from traitflow.segments.engine import count_event, decide
from traitflow.segments.registry import NOTHING_PAUSED, Paused
from traitflow.worker.batch import Outbox
from traitflow.worker.sinks import OutRecord
from traitflow.worker.store.profiles import ProfileStore

log = logging.getLogger(__name__)

RECORD_BYTES = 256 * 1024  # of replay items per job record (Kafka's default limit: 1 MB)
MAX_SEEN = 1_000_000  # message ids remembered per replay to skip repeats (then forgotten)
KINDS = ("replay", "replay-apply", "replay-done")


class ReplayStates:
    """The ``replays`` table's rows, and what they pause for a partition.

    Rows are read through the store's write-behind layer, so a batch given up (its
    records to be processed again) takes its row changes with it; only complete rows,
    which never change again, are kept in memory.
    """

    def __init__(self, store: ProfileStore) -> None:
        self.store = store
        self._complete: dict[tuple[int, str], dict[str, Any]] = {}
        self._paused: dict[tuple[int, int], Paused] = {}  # (partition, definitions version)

    def get(self, partition: int, replay: str) -> dict[str, Any]:
        key = (partition, replay)
        if key in self._complete:
            return dict(self._complete[key])
        row = self.store.replay_state(partition, replay) or {}
        if row.get("complete"):
            self._complete[key] = row
        return dict(row)

    def put(self, partition: int, replay: str, row: dict[str, Any]) -> None:
        self.store.set_replay_state(partition, replay, row)
        self._paused.clear()

    def forget(self) -> None:
        """After a rebalance: what is paused is worked out again from the tables."""
        self._complete.clear()
        self._paused.clear()

    def paused(self, registry: Registry, partition: int) -> Paused:
        """Features not counted live (before the barrier) and segments not decided (until
        every partition has replayed) on ``partition``."""
        replaying = registry.replaying()
        if not replaying:
            return NOTHING_PAUSED
        memo = (partition, registry.version)
        found = self._paused.get(memo)
        if found is not None:
            return found
        features: set[str] = set()
        holding: set[str] = set()
        for replay, replayed in replaying.items():
            row = self.get(partition, replay)
            if row.get("barrier") is None:
                features |= replayed
            if not row.get("complete"):
                holding |= replayed
        found = Paused(frozenset(features), registry.reading(holding))
        if not holding:  # settled: nothing on this partition can change it any more
            if len(self._paused) >= 64:  # old definitions versions
                self._paused.clear()
            self._paused[memo] = found
        return found


class EventLog:
    """Reads one events partition back, from an instant to an offset (a consumer of no
    group, so the worker's own offsets are untouched). ``time_index`` False: the broker's
    ListOffsets is not trusted (the embedded broker's, see DESIGN.md), reading starts at
    the oldest record and the replay skips what is older than the window."""

    def __init__(self, connection: dict[str, Any], topic: str, time_index: bool = True) -> None:
        self.connection = connection
        self.topic = topic
        self.time_index = time_index
        self._consumer: AIOKafkaConsumer | None = None

    async def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self.connection, enable_auto_commit=False, auto_offset_reset="earliest"
            )  # an offset retention deleted meanwhile: on from the oldest record kept
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def start(self, partition: int, from_ms: int, end: int) -> tuple[int, int | None]:
        """The first offset at or after ``from_ms``; and, when the partition no longer
        retains that far back, the time of its oldest record (None when it does)."""
        consumer = await self.consumer()
        tp = TopicPartition(self.topic, partition)
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        start = first
        if self.time_index:
            found = (await consumer.offsets_for_times({tp: from_ms})).get(tp)
            start = max(first, min(found.offset if found is not None else end, end))
        if first == 0 or start > first:
            return start, None
        # Records were deleted, and the window reaches back past what is left: history is
        # kept from the oldest record left, or, when every record before the replay's
        # barrier was deleted, from the barrier itself (read past ``end`` for its time).
        oldest, _ = await self.read(partition, first, first + 1, 1)
        return start, oldest[0].timestamp if oldest else None

    async def read(self, partition: int, start: int, end: int, limit: int) -> tuple[list[Any], int]:
        """Records from ``start`` (up to ``limit``, before ``end``), and the offset to read
        from next (``start`` again when the broker gave nothing in time)."""
        if start >= end:
            return [], end
        consumer = await self.consumer()
        tp = TopicPartition(self.topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[Any] = []
        idle = 0
        while len(found) < limit and idle < 6:
            batch = (await consumer.getmany(tp, timeout_ms=500, max_records=limit)).get(tp, [])
            found += [record for record in batch if record.offset < end]
            if (batch and batch[-1].offset >= end - 1) or await consumer.position(tp) >= end:
                break
            idle = 0 if batch else idle + 1
        found = found[:limit]
        if found:
            return found, found[-1].offset + 1
        return found, min(max(await consumer.position(tp), start), end)

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class Replayer:
    """Runs the three replay jobs of one partition (see the module docstring)."""

    def __init__(
        self,
        registry: Registry,
        store: ProfileStore,
        resolver: Resolver,
        outbox: Outbox,
        log_reader: EventLog | None,
        clock: Clock,
        partitions: Callable[[], int],
        definitions_loaded: Callable[[int], Awaitable[None]],
        suppressions: Suppressions,
        limits: Limits,
        chunk: int = 2_000,
    ) -> None:
        self.registry = registry
        self.chunk = chunk  # log records read per job: live messages wait one at most
        self.store = store
        self.resolver = resolver
        self.outbox = outbox
        self.sinks = outbox.sinks
        self.log = log_reader
        self.clock = clock
        self.partitions = partitions
        self.definitions_loaded = definitions_loaded
        self.suppressions = suppressions
        self.limits = limits
        self.states = ReplayStates(store)
        self._seen: dict[tuple[str, int], set[tuple[str, str]]] = defaultdict(set)

    async def run(self, kind: str, raw: bytes, partition: int, offset: int) -> None:
        if kind == "replay":
            await self.read_chunk(ReplayJob.from_bytes(raw), partition, offset)
        elif kind == "replay-apply":
            await self.apply(ReplayApply.from_bytes(raw), partition)
        else:
            await self.done(ReplayDone.from_bytes(raw), partition)

    # -- reading the log back -------------------------------------------------------------

    async def read_chunk(self, job: ReplayJob, partition: int, offset: int) -> None:
        await self.definitions_loaded(job.version)
        row = self.states.get(partition, job.id)
        if job.next is None:
            if row.get("barrier") is not None:
                return  # a repeated barrier
            job = await self._barrier(job, partition, offset, row)
            row = self.states.get(partition, job.id)
        elif row.get("next") != job.next or job.end is None:
            return  # a repeated chunk job: its follower is in the log already
        assert job.next is not None and job.end is not None
        records, following = await self._reader().read(partition, job.next, job.end, self.chunk)
        if following == job.next < job.end:  # nothing came in time: try again later
            log.warning("replay %s: partition %d gave no records at offset %d; retrying",
                        job.id, partition, job.next)  # fmt: skip
            await self._send_to(partition, job.to_bytes(), "replay")
            return
        await self._send_items(job, partition, records)
        done = following >= job.end
        read = job.read + (following - job.next)
        status = self._status(job, partition, read, done, row.get("retained_from_ms"))
        self.states.put(partition, job.id, {**row, "next": following, "status": status})
        if done:
            self._seen.pop((job.id, partition), None)
            await self._send_everywhere(ReplayDone(job.id, partition).to_bytes(), "replay-done")
        else:
            follow = replace(job, next=following, read=read)
            await self._send_to(partition, follow.to_bytes(), "replay")
        await self._send_status(partition, status)

    async def _barrier(
        self, job: ReplayJob, partition: int, offset: int, row: dict[str, Any]
    ) -> ReplayJob:
        start, retained = await self._reader().start(partition, job.from_ms, offset)
        if retained is not None:
            log.warning(
                "replay %s: events partition %d retains history only from %d (ms), after "
                "the window's start %d: counts from history are incomplete",
                job.id, partition, retained, job.from_ms,
            )  # fmt: skip
        row = {**row, "barrier": offset, "next": start, "retained_from_ms": retained}
        self.states.put(partition, job.id, row)
        now = self.clock.now_ms()
        return replace(job, next=start, end=offset, started_ms=now)

    def _reader(self) -> EventLog:
        if self.log is None:
            raise RuntimeError("this worker cannot read the events topic back")
        return self.log

    async def _send_items(self, job: ReplayJob, partition: int, records: list[Any]) -> None:
        by_person: dict[str, list[ReplayItem]] = defaultdict(list)
        for record in records:
            for item in self._items(job, partition, record):
                by_person[item.person].append(item)
        await self._send_apply(job.id, [i for items in by_person.values() for i in items])

    def _items(self, job: ReplayJob, partition: int, record: Any) -> list[ReplayItem]:
        """The replay items of one record of the log (none for jobs and for what was
        refused when it came in). A record nothing can be read from is skipped, logged:
        bad input in history never stops a replay."""
        try:
            return self._readable_items(job, partition, record)
        except Exception:  # the log names no person: keys and values are personal data
            log.exception("replay %s: skipped unreadable record %d of partition %d",
                          job.id, record.offset, partition)  # fmt: skip
            return []

    def _readable_items(self, job: ReplayJob, partition: int, record: Any) -> list[ReplayItem]:
        read = read_events_record(record.key, record.value, record.headers)
        if not isinstance(read, Messages):
            return []  # a job, or dead-lettered when it came in
        found = []
        for line in read.lines:
            key = line.key.decode(errors="replace") if line.key is not None else None
            item = self._item(job, partition, record, line.index, key, line.forwarded, line.raw)
            if item is not None:
                found.append(item)
        return found

    def _item(
        self, job: ReplayJob, partition: int, record: Any, index: int,
        key: str | None, forwarded: str | None, raw: bytes,
    ) -> ReplayItem | None:  # fmt: skip
        try:
            message = parse_message(
                raw, max_bytes=1 << 30, fallback_timestamp_ms=record.timestamp, limits=self.limits
            )
        except Exception:
            return None  # it was dead-lettered when it came in
        if message.timestamp_ms < job.from_ms or self.suppressions.covers_message(message.body):
            return None
        if key is None:  # a bundle's line: its own routing id, if it was applied here
            routing = routing_identifier(message, self.resolver.rules.junk)
            if routing is None or self._partition(routing.value) != partition:
                return None
            key = routing.value
        at = position(record.offset, index)
        if at < self.store.erased_before(key):
            return None  # the history of a person deleted since
        holder = self.resolver.holder_of(key, forwarded, message, at)
        if holder is None:
            return None
        seen = self._seen[(job.id, partition)]
        if (holder, message.message_id) in seen:
            return None  # a repeat: the live path dropped it too
        if len(seen) >= MAX_SEEN:
            seen.clear()
        seen.add((holder, message.message_id))
        return ReplayItem(
            holder, holder, partition, at, message.type, message.timestamp_ms, message.body
        )

    # -- counting history into profiles ---------------------------------------------------

    async def apply(self, job: ReplayApply, partition: int) -> None:
        """Count each item into its person's profile (once: positions are remembered); an
        id that now points elsewhere passes its items on."""
        features = self.registry.replaying().get(job.id)
        if not features:
            return  # the definitions were replaced or deleted meanwhile
        complete = bool(self.states.get(partition, job.id).get("complete"))
        by_person: dict[str, list[ReplayItem]] = defaultdict(list)
        for item in job.items:
            by_person[item.person].append(item)
        onward: list[ReplayItem] = []
        for person, items in by_person.items():
            pointer = self.store.canonical_of(person)
            if pointer is not None:
                onward += [replace(item, person=pointer.to.value) for item in items]
                continue
            await self._count(job.id, person, items, features, complete, partition)
        await self._send_apply(job.id, onward)

    async def _count(
        self, replay: str, person: str, items: list[ReplayItem], features: frozenset[str],
        complete: bool, partition: int,
    ) -> None:  # fmt: skip
        profile = self.store.load(person.encode())
        if profile is None:
            return  # deleted or expired since
        previous_due = profile.next_due_ms()
        now = self.clock.now_ms()
        changed = set()
        for item in items:
            mark = f"{replay}/{item.source}/{item.holder}"
            if item.position <= profile.replayed.get(mark, -1):
                continue
            message = Message(item.type, "", None, None, item.timestamp_ms, item.body)
            changed |= count_event(profile, message, self.registry, now, only=features)
            profile.replayed[mark] = item.position
        if complete and changed:  # late items (passed on by a merged id): decide now
            cause = Cause(f"backfill-{replay}", "backfill", kind="backfill")
            flips = decide(profile, self.registry, changed, now, now)
            events = [
                membership_event(profile, t, cause, self.registry.segments.get(t.segment))
                for t in flips
            ]
            await self.outbox.publish_transitions(partition, events)
        self.store.save(person.encode(), profile, previous_due)

    # -- completion -----------------------------------------------------------------------

    async def done(self, job: ReplayDone, partition: int) -> None:
        """One more partition has sent its history; after the last one, this partition
        decides the segments it held."""
        row = self.states.get(partition, job.id)
        done_from = sorted({*row.get("done_from", []), job.source})
        row["done_from"] = done_from
        finishing = len(done_from) >= self.partitions() and not row.get("complete")
        row["complete"] = bool(row.get("complete")) or finishing
        self.states.put(partition, job.id, row)
        if not finishing:
            return
        features = self.registry.replaying().get(job.id, frozenset())
        log.info("replay %s complete on partition %d: deciding its segments", job.id,
                 partition)  # fmt: skip
        await self._send_status(partition, {**row.get("status", {}), "complete": True})
        backfill = BackfillJob(
            self.registry.version, partition, features=tuple(sorted(features)), replay=job.id
        )
        await self._send_to(partition, backfill.to_bytes(), "backfill")

    # -- sending --------------------------------------------------------------------------

    async def _send_apply(self, replay: str, items: list[ReplayItem]) -> None:
        """Items keyed by a person of theirs: each record reaches that person's partition
        (items are grouped by person, a record holds only one partition's)."""
        by_partition: dict[int, list[ReplayItem]] = defaultdict(list)
        for item in items:
            by_partition[self._partition(item.person)].append(item)
        records: list[OutRecord] = []
        for group in by_partition.values():
            for part in bounded_runs(group, RECORD_BYTES):
                value = ReplayApply(replay, part).to_bytes()
                records.append((part[0].person.encode(), value, kind_headers("replay-apply")))
        await self.outbox.send(self.sinks.events, records)

    def _partition(self, person: str) -> int:
        return partition_of(person.encode(), self.partitions())

    async def _send_to(self, partition: int, value: bytes, kind: str) -> None:
        record = (JOB_KEY, value, kind_headers(kind))
        await self.outbox.send(self.sinks.events, [record], partition=partition)

    async def _send_everywhere(self, value: bytes, kind: str) -> None:
        for partition in range(self.partitions()):
            await self._send_to(partition, value, kind)

    def _status(
        self, job: ReplayJob, partition: int, read: int, finished: bool,
        retained_from_ms: int | None,
    ) -> dict[str, Any]:  # fmt: skip
        """A ``segments status`` line: reading ``finished`` on this partition; ``complete``
        once every partition has sent its history here and the held segments decide."""
        total = (job.end or 0) - (job.next or 0) + job.read
        value = {
            "kind": "replay", "id": job.id, "version": job.version,
            "partition": partition, "read": read, "total": max(total, read),
            "finished": finished, "started_ms": job.started_ms,
            "updated_ms": self.clock.now_ms(), "from_ms": job.from_ms,
            "retained_from_ms": retained_from_ms, "complete": False,
        }  # fmt: skip
        return value

    async def _send_status(self, partition: int, value: dict[str, Any]) -> None:
        key = f"replay/{partition}".encode()
        await self.outbox.send(self.sinks.status, [(key, orjson.dumps(value), None)])


def bounded_runs(items: list[ReplayItem], limit: int) -> list[tuple[ReplayItem, ...]]:
    """Consecutive runs of items whose bodies add up to at most ``limit`` bytes (one item
    alone may pass it: a message is bounded by ``max_message_bytes`` anyway)."""
    runs: list[tuple[ReplayItem, ...]] = []
    run: list[ReplayItem] = []
    size = 0
    for item in items:
        weight = len(orjson.dumps(item.body)) + 200
        if run and size + weight > limit:
            runs.append(tuple(run))
            run, size = [], 0
        run.append(item)
        size += weight
    if run:
        runs.append(tuple(run))
    return runs
