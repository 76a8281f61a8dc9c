"""A table's storage, one part per events partition (a Faust table's partition N is its
RocksDB database N and changelog partition N), behind one protocol with two stores."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol

from faust.types import TP
from rocksdict import WriteBatch

from traitflow.worker.faust_private import is_rocksdb, partition_database

Table = MutableMapping[bytes, bytes]
Write = tuple[bytes, bytes | None]  # a key and its value, or None to delete it


class Partitions(Protocol):
    """Where a table's values live."""

    failure: BaseException | None  # of a changelog write: the next write raises it

    def get(self, key: bytes, partition: int | None) -> bytes | None:
        """The value of ``key``; ``partition`` when known (the record being processed)."""

    def keys(self, partition: int, after: bytes | None, limit: int) -> list[bytes]:
        """Up to ``limit`` keys of one partition, in key order, after ``after``."""

    def values(self, partition: int) -> Iterator[bytes]: ...

    def count(self, partition: int) -> int:
        """How many keys one partition holds (an estimate where counting is costly)."""

    async def write(self, partition: int, writes: list[Write]) -> None: ...


def partitions_of(table: Table) -> Partitions:
    """The storage behind a Faust table (or a plain dict, in unit tests)."""
    store = getattr(table, "data", None)
    return RocksDBPartitions(table, store) if is_rocksdb(store) else MemoryPartitions(table)


class MemoryPartitions:
    """One dict for every partition: Faust's memory store (agent tests) or a plain dict.
    Writes go through the table (Faust's: into the current event's partition)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.data: Any = getattr(table, "data", table)
        self.failure: BaseException | None = None

    def get(self, key: bytes, partition: int | None) -> bytes | None:
        return self.table.get(key)

    def keys(self, partition: int, after: bytes | None, limit: int) -> list[bytes]:
        return _first(sorted(self.data), after, limit, None)

    def values(self, partition: int) -> Iterator[bytes]:
        return (value for value in self.data.values() if value is not None)

    def count(self, partition: int) -> int:
        return len(self.data)

    async def write(self, partition: int, writes: list[Write]) -> None:
        for key, value in writes:
            if value is None:
                self.table.pop(key, None)
            else:
                self.table[key] = value


class RocksDBPartitions:
    """Faust's RocksDB store, one database per partition, read and written directly: its
    table layer checks membership first and reads twice (a tenth of a worker's time), and
    holds each changelog record in a buffer a busy stream outruns."""

    def __init__(self, table: Table, store: Any) -> None:
        self.table = table
        self.store = store
        self.bookkeeping: bytes | None = getattr(store, "offset_key", None)  # Faust's offset
        self.persisted: dict[int, int] = {}  # newest changelog offset acknowledged
        self.unrecorded: dict[int, TP] = {}  # partitions whose newest is not in RocksDB yet
        self.recording = False  # a call to record them is scheduled
        self.failure: BaseException | None = None

    def get(self, key: bytes, partition: int | None) -> bytes | None:
        if partition is None:  # admin reads: the table finds the key's partition
            return self.table.get(key)
        value: bytes | None = partition_database(self.store, partition).get(key)
        return value

    def keys(self, partition: int, after: bytes | None, limit: int) -> list[bytes]:
        found = (key for key, _ in _scan(partition_database(self.store, partition), after))
        return _first(found, after, limit, self.bookkeeping)

    def values(self, partition: int) -> Iterator[bytes]:
        for key, value in _scan(partition_database(self.store, partition), None, values=True):
            if key != self.bookkeeping and value is not None:
                yield value

    def count(self, partition: int) -> int:
        database = partition_database(self.store, partition)
        return max(0, int(database.property_int_value("rocksdb.estimate-num-keys") or 0) - 1)

    async def write(self, partition: int, writes: list[Write]) -> None:
        """What Faust's table does for each write, once per batch: one RocksDB write batch,
        then the changelog records sent through the app's producer, which Faust flushes
        before it commits the records' offsets."""
        if not writes:
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        partition_database(self.store, partition).write(batch)
        table: Any = self.table
        topic, producer = table.changelog_topic.get_topic_name(), table.app.producer
        acknowledged = functools.partial(self._sent, TP(topic, partition))
        for key, value in writes:
            sent = await producer.send(topic, key, value, partition, None, None)
            sent.add_done_callback(acknowledged)

    def _sent(self, tp: TP, acknowledgement: asyncio.Future[Any]) -> None:
        """Kafka has a changelog record: remember the changelog offset the partition's
        RocksDB database now holds (a restart replays only what is newer), as Faust does
        after each of its own sends. A lost record fails the next write: the worker stops
        rather than commit offsets past writes its changelog lacks."""
        if acknowledgement.cancelled() or acknowledgement.exception() is not None:
            self.failure = acknowledgement.exception() or asyncio.CancelledError()
            return
        offset = acknowledgement.result().offset
        if offset > self.persisted.get(tp.partition, -1):
            self.persisted[tp.partition] = offset
            self.unrecorded[tp.partition] = tp
            if not self.recording:  # after the acknowledgements of the same response
                self.recording = True
                asyncio.get_running_loop().call_soon(self._record_persisted)

    def _record_persisted(self) -> None:
        """Put the newest acknowledged offsets in RocksDB, once per partition for all the
        acknowledgements of one produce response rather than once per record (a RocksDB
        write each)."""
        unrecorded, self.unrecorded, self.recording = self.unrecorded, {}, False
        for partition, tp in unrecorded.items():
            self.store.set_persisted_offset(tp, self.persisted[partition])


def _scan(
    database: Any, after: bytes | None, values: bool = False
) -> Iterator[tuple[bytes, bytes | None]]:
    """Keys (and values) in order from ``after``; an error RocksDB met on the way (a corrupt
    block) is raised at the end instead of ending the scan short and silent, as the
    dictionary-style iteration did."""
    cursor = database.iter()
    if after:
        cursor.seek(after)
    else:
        cursor.seek_to_first()
    while cursor.valid():
        yield cursor.key(), cursor.value() if values else None
        cursor.next()
    cursor.status()


def _first(keys: Any, after: bytes | None, limit: int, skip: bytes | None) -> list[bytes]:
    found: list[bytes] = []
    for key in keys:
        if (after is not None and key <= after) or key == skip:
            continue
        found.append(key)
        if len(found) == limit:
            break
    return found
