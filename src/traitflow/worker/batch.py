"""Batches of records: many sends acknowledged at once, one table write per changed key.

Waiting, per record, for Kafka to acknowledge its membership events before writing the
profile (one changelog record per write) costs a round trip and a changelog record per
message. In a batch, every record's sends go out at once and the tables' writes are
held back; when the batch closes, the worker waits for every acknowledgement, then
writes each changed key once (to RocksDB and the changelog), then acknowledges the
records to Faust, which commits their offsets only after flushing its producer (the
changelog records with it).
The order that makes "a crash repeats, never loses" hold per record holds per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from faust.streams import _current_event, current_event
from faust.types import TP
from rocksdict import WriteBatch

from traitflow.worker.sinks import Event, OutRecord, Sink, Sinks, membership_records

Table = MutableMapping[bytes, bytes]
QUIET_TURNS = 3  # event-loop turns a batch waits for a record in flight (see Batcher._quiet)
_DELETED = None


class WriteBehind:
    """A table whose writes wait in memory for ``flush``; reads see them at once.

    Each held write remembers the events partition it was made for: a Faust table's
    partition N lives in its own RocksDB database and changelog partition N, the events
    partition N's.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.held: dict[bytes, tuple[int, bytes | None]] = {}
        self.partition = 0  # of the record being processed
        self.persisted: dict[int, int] = {}  # newest changelog offset acknowledged
        self.failure: BaseException | None = None  # of a changelog send

    def get(self, key: bytes) -> bytes | None:
        held = self.held.get(key)
        if held is not None:
            return held[1]
        return self._read(key)

    def _read(self, key: bytes) -> bytes | None:
        """The stored value. While a record is processed, read from its partition's RocksDB
        database directly, as Faust would: its table layer checks membership first and
        reads twice (a tenth of a worker's time). Elsewhere (admin reads, the memory
        store of agent tests) through the table, which finds the key's partition."""
        store = _rocksdb_store(self.table)
        event = current_event()
        if event is not None and store is not None:
            database = store._db_for_partition(event.message.partition)
            value: bytes | None = database.get(key)
            return value
        return self.table.get(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.held[key] = (self.partition, value)

    def pop(self, key: bytes) -> None:
        self.held[key] = (self.partition, _DELETED)

    def discard(self, partition: int) -> None:
        for key in [key for key, (p, _) in self.held.items() if p == partition]:
            del self.held[key]

    async def flush(self, partition: int) -> int:
        """Write the held writes of one partition; how many."""
        if self.failure is not None:  # a changelog record of an earlier batch was lost
            raise self.failure
        mine = [(key, value) for key, (p, value) in self.held.items() if p == partition]
        for key, _ in mine:
            del self.held[key]
        store = _rocksdb_store(self.table)
        if store is None:  # memory tables of agent tests, dicts of unit tests
            self._write_through(mine)
        elif mine:
            await self._write_direct(store, partition, mine)
        return len(mine)

    def _write_through(self, writes: list[tuple[bytes, bytes | None]]) -> None:
        """Through the table (Faust: into the current event's partition, changelog soon)."""
        for key, value in writes:
            if value is _DELETED:
                self.table.pop(key, None)
            else:
                self.table[key] = value

    async def _write_direct(
        self, store: Any, partition: int, writes: list[tuple[bytes, bytes | None]]
    ) -> None:
        """What Faust's table does for each write, once per batch: one RocksDB write batch,
        then the changelog records sent through the app's producer, which Faust flushes
        before it commits the records' offsets. Faust's own path holds each record in a
        buffer that a busy stream outruns (tens of thousands of profiles in memory)."""
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is _DELETED:
                batch.delete(key)
            else:
                batch.put(key, value)
        store._db_for_partition(partition).write(batch)
        table: Any = self.table
        topic, producer = table.changelog_topic.get_topic_name(), table.app.producer
        acknowledged = functools.partial(self._sent, store, TP(topic, partition))
        for key, value in writes:
            sent = await producer.send(topic, key, value, partition, None, None)
            sent.add_done_callback(acknowledged)

    def _sent(self, store: Any, tp: TP, acknowledgement: asyncio.Future[Any]) -> None:
        """Kafka has a changelog record: record, in the partition's RocksDB database, the
        changelog offset it holds (a restart replays only what is newer), as Faust does
        after each of its own sends. A lost record fails the next flush: the worker stops
        rather than commit offsets past writes its changelog lacks."""
        if acknowledgement.cancelled() or acknowledgement.exception() is not None:
            self.failure = acknowledgement.exception() or asyncio.CancelledError()
            return
        offset = acknowledgement.result().offset
        if offset > self.persisted.get(tp.partition, -1):
            self.persisted[tp.partition] = offset
            store.set_persisted_offset(tp, offset)


def _rocksdb_store(table: Table) -> Any:
    """The Faust RocksDB store behind ``table``; None for other tables."""
    store = getattr(table, "data", None)
    return store if hasattr(store, "_db_for_partition") else None


async def flush_held(tables: Sequence[WriteBehind], last_events: Mapping[int, Any]) -> int:
    """Write the held writes of every partition with records in the batch, each under that
    partition's last record (Faust tables write into the current event's partition). How
    many writes."""
    written = 0
    for partition, event in last_events.items():
        with as_current(event):
            for table in tables:
                written += await table.flush(partition)
    return written


class Outbox:
    """Sends of a batch: published at once, acknowledged together when the batch closes."""

    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks
        self.acks: list[Awaitable[Any]] = []
        self.transitions: list[tuple[int, list[Event]]] = []
        self.afterwards: list[Callable[[], None]] = []

    async def send(self, sink: Sink, records: Sequence[OutRecord]) -> None:
        for key, value, headers in records:
            self.acks.append(await sink.send(key=key, value=value, headers=headers))

    async def publish_transitions(self, partition: int, events: list[Event]) -> None:
        if events:
            await self.send(self.sinks.membership, membership_records(events))
            self.transitions.append((partition, events))

    def after_settling(self, call: Callable[[], None]) -> None:
        """Run ``call`` once this batch's sends are acknowledged (e.g. a latency metric)."""
        self.afterwards.append(call)

    async def settle(self) -> None:
        """Wait for every acknowledgement; then tell the observers what Kafka has."""
        acks, self.acks = self.acks, []
        for acknowledgement in acks:
            await acknowledgement
        transitions, self.transitions = self.transitions, []
        for partition, events in transitions:
            self.sinks.published(partition, events)
        afterwards, self.afterwards = self.afterwards, []
        for call in afterwards:
            call()

    def discard(self, partitions: set[int]) -> None:
        """A rebalance took ``partitions`` away: their records will be processed elsewhere
        (what was sent for them is acknowledged still, and repeated there with same ids)."""
        self.transitions = [(p, e) for p, e in self.transitions if p not in partitions]


@contextlib.contextmanager
def as_current(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event, as during its own processing (see WriteBehind)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class Batcher:
    """Collects a stream's records into batches closed when no record waits (so a quiet
    stream adds no delay, and a busy one makes large batches), by size, by age, or before
    a record that scans the tables (a tick or backfill command must see every earlier
    write).

    ``process`` handles one record inside the batch and says how many messages it held;
    closing settles the batch's sends, then ``flush`` writes the held writes of each
    partition (given its last record), then the records are acked.
    """

    def __init__(
        self,
        process: Callable[[Any], Awaitable[int]],
        outbox: Outbox,
        flush: Callable[[Mapping[int, Any]], Awaitable[int]],
        scans: Callable[[Any], bool],
        max_messages: int,
        max_wait_s: float,
        closed: Callable[[list[Any]], None] = lambda events: None,
        idle: Callable[[], bool] = lambda: False,
    ) -> None:
        self.process = process
        self.outbox = outbox
        self.flush = flush
        self.scans = scans
        self.max_messages = max_messages
        self.messages = 0
        self.max_wait_s = max_wait_s
        self.closed = closed  # told each batch's records once they are acked
        self.idle = idle  # no record is waiting in the stream
        self.ack: Callable[[Any], Awaitable[Any]] | None = None  # the stream's, once it runs
        self.events: list[Any] = []
        self.opened = 0.0
        self.lock = asyncio.Lock()

    async def add(self, event: Any) -> None:
        async with self.lock:
            now = asyncio.get_running_loop().time()
            if self.events and (self.scans(event) or now - self.opened >= self.max_wait_s):
                await self._close()
            if not self.events:
                self.opened = now
            self.events.append(event)
            self.messages += await self.process(event)
            if self.messages >= self.max_messages or await self._quiet():
                await self._close()

    async def _quiet(self) -> bool:
        """No record waits, even after a few turns of the event loop: Faust delivers a
        fetched batch one record per turn or two, so an empty channel right after a record
        is usually a delivery in flight (closing then made batches of one record each)."""
        for _ in range(QUIET_TURNS):
            if not self.idle():
                return False
            await asyncio.sleep(0)
        return self.idle()

    async def close_if_old(self) -> None:
        """Called periodically: a quiet stream still closes its batch within max_wait_s."""
        async with self.lock:
            age = asyncio.get_running_loop().time() - self.opened
            if self.events and age >= self.max_wait_s:
                await self._close()

    def discard(self, partitions: set[int], forget: Callable[[int], None]) -> None:
        """After a rebalance revoked ``partitions``: drop their records and held writes
        unacknowledged; the new owner processes them again from the committed offset."""
        self.events = [e for e in self.events if e.message.partition not in partitions]
        for partition in partitions:
            forget(partition)
        self.outbox.discard(partitions)

    async def _close(self) -> None:
        events, self.events, self.messages = self.events, [], 0
        await self.outbox.settle()
        last_of: dict[int, Any] = {}
        for event in events:
            last_of[event.message.partition] = event
        await self.flush(last_of)
        assert self.ack is not None, "the batcher runs inside the agent's stream"
        for event in events:
            await self.ack(event)
        self.closed(events)
