"""Batches of records: many sends acknowledged at once, one table write per changed key.

Waiting, per record, for Kafka to acknowledge its membership events before writing the
profile (one changelog record per write) costs a round trip and a changelog record per
message. In a batch, every record's sends go out at once and the tables' writes are
held back; when the batch closes, the worker waits for every acknowledgement, then
writes each changed key once (to RocksDB and the changelog), then acknowledges the
records to Faust, which commits their offsets only after flushing its producer (the
changelog records with it).
The order that makes "a crash repeats, never loses" hold per record holds per batch.

A closed batch settles while the next one is processed (a live stream's small batches
otherwise spend most of their time waiting for acknowledgements): each batch's held
writes stay in a layer of their own, read by the batches after it, until its sends are
acknowledged. At most one batch settles at a time, and batches settle in order.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from faust.types import TP
from rocksdict import WriteBatch

from traitflow.worker.faust_private import as_current, is_rocksdb, partition_database
from traitflow.worker.sinks import Event, OutRecord, Sink, Sinks, membership_records

Table = MutableMapping[bytes, bytes]
Layer = dict[bytes, tuple[int, bytes | None]]  # key -> (events partition, value or deleted)
YIELD_EVERY = 200  # records processed between turns given to the event loop
PROCESSING: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "traitflow_processing_partition", default=None
)  # the events partition of the record the batcher is processing, in its task only
_DELETED = None


class WriteBehind:
    """A table whose writes wait in memory for ``flush``; reads see them at once.

    Each held write remembers the events partition it was made for: a Faust table's
    partition N lives in its own RocksDB database and changelog partition N, the events
    partition N's. The open batch writes into ``held``; ``seal`` closes it into a layer
    of its own, and ``flush`` writes the oldest sealed layer.
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.held: Layer = {}  # the open batch's writes
        self.sealed: collections.deque[Layer] = collections.deque()  # oldest first
        self.partition = 0  # of the record being processed
        self.persisted: dict[int, int] = {}  # newest changelog offset acknowledged
        self.failure: BaseException | None = None  # of a changelog send

    def get(self, key: bytes) -> bytes | None:
        held = self.held.get(key)
        if held is None:
            for layer in reversed(self.sealed):
                held = layer.get(key)
                if held is not None:
                    break
        if held is not None:
            return held[1]
        return self._read(key)

    def _read(self, key: bytes) -> bytes | None:
        """The stored value. While a record is processed, read from its partition's RocksDB
        database directly, as Faust would: its table layer checks membership first and
        reads twice (a tenth of a worker's time). Elsewhere (admin reads, the memory
        store of agent tests) through the table, which finds the key's partition."""
        store = _rocksdb_store(self.table)
        partition = PROCESSING.get()
        if partition is not None and store is not None:
            value: bytes | None = partition_database(store, partition).get(key)
            return value
        return self.table.get(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.held[key] = (self.partition, value)

    def pop(self, key: bytes) -> None:
        self.held[key] = (self.partition, _DELETED)

    def discard(self, partition: int) -> None:
        for layer in (self.held, *self.sealed):
            for key in [key for key, (p, _) in layer.items() if p == partition]:
                del layer[key]

    def abandon(self) -> None:
        """The open batch is given up: forget its writes."""
        self.held = {}

    def seal(self) -> None:
        """The open batch closed: its writes wait in a layer of their own for ``flush``."""
        self.sealed.append(self.held)
        self.held = {}

    async def flush(self, partition: int) -> int:
        """Write the oldest sealed layer's writes of one partition; how many."""
        if self.failure is not None:  # a changelog record of an earlier batch was lost
            raise self.failure
        layer = self.sealed[0]
        mine = [(key, value) for key, (p, value) in layer.items() if p == partition]
        store = _rocksdb_store(self.table)
        if store is None:  # memory tables of agent tests, dicts of unit tests
            self._write_through(mine)
        elif mine:
            await self._write_direct(store, partition, mine)
        for key, _ in mine:  # written: reads find them in the table now
            del layer[key]
        return len(mine)

    def release(self) -> None:
        """The oldest sealed layer is written: forget it."""
        self.sealed.popleft()

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
        partition_database(store, partition).write(batch)
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
    return store if is_rocksdb(store) else None


async def flush_held(tables: Sequence[WriteBehind], last_records: Mapping[int, Any]) -> int:
    """Write the oldest sealed batch's held writes, each partition's under that partition's
    last record (Faust tables write into the current event's partition); how many. Writes
    are only made while a record is handled, so every partition written has one."""
    written = 0
    for partition, record in last_records.items():
        with as_current(record):
            for table in tables:
                written += await table.flush(partition)
    for table in tables:
        table.release()
    return written


@dataclass
class Sends:
    """One batch's sends: their acknowledgements, and what to do once Kafka has them all."""

    acks: list[Awaitable[Any]] = field(default_factory=list)
    transitions: list[tuple[int, list[Event]]] = field(default_factory=list)
    afterwards: list[Callable[[], None]] = field(default_factory=list)

    def discard(self, partitions: set[int]) -> None:
        """Forget the transitions of revoked partitions (what was sent for them is
        acknowledged still, and repeated by the new owner with the same ids)."""
        self.transitions = [(p, e) for p, e in self.transitions if p not in partitions]


class Outbox:
    """Sends of a batch: published at once, acknowledged together after the batch closes."""

    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks
        self.open = Sends()

    async def send(
        self, sink: Sink, records: Sequence[OutRecord], partition: int | None = None
    ) -> None:
        for key, value, headers in records:
            ack = await sink.send(key=key, value=value, headers=headers, partition=partition)
            self.open.acks.append(ack)

    async def publish_transitions(self, partition: int, events: list[Event]) -> None:
        if events:
            await self.send(self.sinks.membership, membership_records(events))
            self.open.transitions.append((partition, events))

    def after_settling(self, call: Callable[[], None]) -> None:
        """Run ``call`` once this batch's sends are acknowledged (e.g. a latency metric)."""
        self.open.afterwards.append(call)

    def seal(self) -> Sends:
        """The open batch closed: its sends, to ``settle``; the next batch's start empty."""
        sealed, self.open = self.open, Sends()
        return sealed

    async def settle(self, sends: Sends) -> None:
        """Wait for every acknowledgement; then tell the observers what Kafka has."""
        for acknowledgement in sends.acks:
            await acknowledgement
        for partition, events in sends.transitions:
            self.sinks.published(partition, events)
        for call in sends.afterwards:
            call()


class Delivered(Protocol):
    """A record as the batcher needs it: Faust's ``Message`` is one."""

    @property
    def partition(self) -> int: ...


@dataclass
class ClosedBatch:
    """A batch whose records are processed: it settles, then its records are acked."""

    records: list[Any]
    sends: Sends
    acked: Callable[[Any], object]

    def discard(self, partitions: set[int]) -> None:
        """Drop the records and transitions of revoked partitions."""
        self.records = [r for r in self.records if r.partition not in partitions]
        self.sends.discard(partitions)


class HeldWrites(Protocol):
    """The tables' held writes, layered by batch (see ``WriteBehind``)."""

    def seal(self) -> None: ...

    async def flush(self, last_records: Mapping[int, Any]) -> int: ...

    def discard(self, partition: int) -> None: ...

    def abandon(self) -> None: ...


def _always() -> bool:
    return True


class Batcher:
    """Processes each delivery (a fetch of records, in order) as batches: closed at the
    end of the delivery, by size, or before a record that scans the tables (a tick or
    backfill job must see every earlier write).

    ``process`` handles one record inside the batch and says how many messages it held.
    Closing seals the batch's sends and held writes and settles it in the background
    while the next batch is processed: wait for the acknowledgements, write the held
    writes of each partition (given its last record), ack the records. A batch that
    fails to settle (a send Kafka refused) calls ``failed`` and fails every later close:
    no record after it is acked, so a restart repeats them all.

    A delivery stopped half-way (a rebalance stops the flow, or cancels the fetcher)
    abandons its open batch: nothing of it was acked, and after the rebalance Faust
    seeks every partition back to its committed offset, so it is processed again.
    """

    def __init__(
        self,
        process: Callable[[Any], Awaitable[int]],
        outbox: Outbox,
        held: HeldWrites,
        scans: Callable[[Any], bool],
        max_messages: int,
        closed: Callable[[list[Any]], None] = lambda records: None,
        failed: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self.process = process
        self.outbox = outbox
        self.held = held
        self.scans = scans
        self.max_messages = max_messages
        self.messages = 0
        self.closed = closed  # told each batch's records once they are acked
        self.failed = failed  # told once if a batch cannot settle
        self.records: list[Any] = []
        self.acked: Callable[[Any], object] = lambda record: None
        self.lock = asyncio.Lock()
        self.settling: ClosedBatch | None = None
        self.settled: asyncio.Task[None] | None = None

    async def take(
        self,
        records: Sequence[Delivered],
        acked: Callable[[Any], object],
        active: Callable[[], bool] = _always,
    ) -> None:
        """Process ``records`` in order and close their last batch; ``acked`` acknowledges
        one to Faust once its batch is written; ``active`` false stops (see above)."""
        async with self.lock:
            self.acked = acked
            try:
                for count, record in enumerate(records, 1):
                    if not active():
                        self._abandon()
                        return
                    await self._add(record)
                    if count % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # let health checks and timers run
            except asyncio.CancelledError:
                self._abandon()
                raise
            await self._close()

    async def _add(self, record: Delivered) -> None:
        if self.scans(record):  # it reads the tables: every earlier write must be there
            await self._close()
            await self._wait_settled()
        self.records.append(record)
        token = PROCESSING.set(record.partition)
        try:
            self.messages += await self.process(record)
        finally:
            PROCESSING.reset(token)
        if self.messages >= self.max_messages:
            await self._close()

    def _abandon(self) -> None:
        """Forget the open batch: its records are not acked, so they come again."""
        self.records, self.messages = [], 0
        self.outbox.open = Sends()
        self.held.abandon()

    async def drain(self) -> None:
        """Close the open batch and wait until every batch has settled (used by tests)."""
        async with self.lock:
            await self._close()
            await self._wait_settled()

    def discard(self, partitions: set[int]) -> None:
        """After a rebalance revoked ``partitions``: drop their records and held writes
        unacknowledged; the new owner processes them again from the committed offset."""
        self.records = [r for r in self.records if r.partition not in partitions]
        self.outbox.open.discard(partitions)
        if self.settling is not None:
            self.settling.discard(partitions)
        for partition in partitions:
            self.held.discard(partition)

    async def _close(self) -> None:
        """Seal the open batch; settle it once the batch before it has settled."""
        if not self.records:
            return
        batch = ClosedBatch(self.records, self.outbox.seal(), self.acked)
        self.records, self.messages = [], 0
        self.held.seal()
        await self._wait_settled()
        self.settling = batch
        self.settled = asyncio.create_task(self._settle(batch))
        self.settled.add_done_callback(self._report_failure)

    async def _wait_settled(self) -> None:
        """Wait for the settling batch; its failure fails this close too."""
        if self.settled is not None:
            await asyncio.shield(self.settled)
            self.settling = self.settled = None

    async def _settle(self, batch: ClosedBatch) -> None:
        await self.outbox.settle(batch.sends)
        last_of: dict[int, Any] = {}
        for record in batch.records:
            last_of[record.partition] = record
        await self.held.flush(last_of)
        for record in batch.records:
            batch.acked(record)
        self.closed(batch.records)

    def _report_failure(self, settled: asyncio.Task[None]) -> None:
        if not settled.cancelled() and settled.exception() is not None:
            self.failed(settled.exception())  # type: ignore[arg-type]
