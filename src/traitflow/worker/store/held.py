"""Writes held back until the batch that made them is acknowledged (see
``traitflow.worker.batch``): a profile never reaches RocksDB or its changelog before its
membership events reach Kafka.

Each table's held writes are layers, one per batch, each going one way only:
``OPEN`` (the batch being processed writes into it) -> ``SEALED`` (the batch closed; its
sends are being acknowledged; later batches read through it) -> ``WRITTEN`` (in the
table; forgotten). Layers are written in the order they were sealed.
"""

from __future__ import annotations

import collections
import contextvars
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from traitflow.worker.faust_private import as_current
from traitflow.worker.store.partitions import Table, Write, partitions_of

PROCESSING: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "traitflow_processing_partition", default=None
)  # the events partition of the record the batcher is processing, in its task only


class State(enum.Enum):
    OPEN = "open"
    SEALED = "sealed"
    WRITTEN = "written"


@dataclass(eq=False)
class Layer:
    """One batch's writes to one table: key -> (events partition, value or None)."""

    writes: dict[bytes, tuple[int, bytes | None]] = field(default_factory=dict)
    state: State = State.OPEN

    def move(self, before: State, after: State) -> None:
        if self.state is not before:
            raise RuntimeError(f"a held layer went {self.state.value} -> {after.value}")
        self.state = after


class WriteBehind:
    """A table whose writes wait in layers for ``flush``; reads see them at once."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.partitions = partitions_of(table)
        self.held = Layer()  # the open batch's
        self.sealed: collections.deque[Layer] = collections.deque()  # oldest first
        self.partition = 0  # of the record being processed

    def get(self, key: bytes) -> bytes | None:
        held = self.held.writes.get(key)
        if held is None:
            for layer in reversed(self.sealed):
                held = layer.writes.get(key)
                if held is not None:
                    break
        if held is not None:
            return held[1]
        return self.partitions.get(key, PROCESSING.get())

    def keys(self, partition: int, after: bytes | None, limit: int) -> list[bytes]:
        """Up to ``limit`` keys of one partition after ``after``, in key order, as reads see
        them: the table's, with the held layers' writes and deletions on top (a scan made
        between batches must not miss a profile whose batch is not written yet)."""
        pending: dict[bytes, bytes | None] = {}
        for layer in (*self.sealed, self.held):  # oldest first: newer writes win
            for key, (p, value) in layer.writes.items():
                if p == partition and (after is None or key > after):
                    pending[key] = value
        if not pending:
            return self.partitions.keys(partition, after, limit)
        deleted = {key for key, value in pending.items() if value is None}
        # enough stored keys that, once the held deletions are taken out, ``limit`` remain
        stored = self.partitions.keys(partition, after, limit + len(deleted))
        found = set(stored).union(key for key, value in pending.items() if value is not None)
        return sorted(found - deleted)[:limit]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.held.writes[key] = (self.partition, value)

    def pop(self, key: bytes) -> None:
        self.held.writes[key] = (self.partition, None)

    def discard(self, partition: int, keep_flushing: bool = False) -> None:
        """Forget a revoked partition's held writes: its records will be processed again.
        ``keep_flushing``: the oldest sealed layer is being written; it is written whole
        (a profile whose schedule entry was forgotten halfway would never come due)."""
        sealed = list(self.sealed)[1:] if keep_flushing else list(self.sealed)
        for layer in (self.held, *sealed):
            for key in [key for key, (p, _) in layer.writes.items() if p == partition]:
                del layer.writes[key]

    def abandon(self) -> None:
        """The open batch is given up: forget its writes."""
        self.held = Layer()

    def seal(self) -> None:
        """The open batch closed: its writes wait in a layer of their own for ``flush``."""
        self.held.move(State.OPEN, State.SEALED)
        self.sealed.append(self.held)
        self.held = Layer()

    async def flush(self, partition: int) -> int:
        """Write the oldest sealed layer's writes of one partition; how many."""
        if self.partitions.failure is not None:  # an earlier changelog record was lost
            raise self.partitions.failure
        layer = self.sealed[0]
        mine: list[Write] = [(k, v) for k, (p, v) in layer.writes.items() if p == partition]
        await self.partitions.write(partition, mine)
        for key, _ in mine:  # written: reads find them in the table now
            del layer.writes[key]
        return len(mine)

    def release(self) -> None:
        """The oldest sealed layer is written: forget it."""
        self.sealed.popleft().move(State.SEALED, State.WRITTEN)


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
