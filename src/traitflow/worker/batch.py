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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from traitflow.worker.sinks import Event, OutRecord, Sink, Sinks, membership_records
from traitflow.worker.store.held import PROCESSING

YIELD_EVERY = 200  # records processed between turns given to the event loop


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
    """The tables' held writes, layered by batch (``traitflow.worker.store.held``)."""

    def seal(self) -> None: ...

    async def flush(self, last_records: Mapping[int, Any]) -> int: ...

    def discard(self, partition: int, keep_flushing: bool = False) -> None: ...

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
        self.waiting: ClosedBatch | None = None  # closed, waiting for ``settling`` to settle
        self.settled: asyncio.Task[None] | None = None
        self.flushing = False  # the settling batch's held writes are being written

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
        for batch in (self.settling, self.waiting):  # the waiting one's writes go below too
            if batch is not None:
                batch.discard(partitions)
        for partition in partitions:
            # a batch whose writes are being made is written whole: its records (not acked)
            # come again to the new owner, who finds them applied
            self.held.discard(partition, keep_flushing=self.flushing)

    async def _close(self) -> None:
        """Seal the open batch; settle it once the batch before it has settled."""
        if not self.records:
            return
        batch = ClosedBatch(self.records, self.outbox.seal(), self.acked)
        self.records, self.messages = [], 0
        self.held.seal()
        self.waiting = batch
        try:
            await self._wait_settled()
        finally:
            self.waiting = None
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
        self.flushing = True
        try:
            await self.held.flush(last_of)
        finally:
            self.flushing = False
        for record in batch.records:
            batch.acked(record)
        self.closed(batch.records)

    def _report_failure(self, settled: asyncio.Task[None]) -> None:
        if not settled.cancelled() and settled.exception() is not None:
            self.failed(settled.exception())  # type: ignore[arg-type]
