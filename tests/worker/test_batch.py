"""Batches: sends acknowledged before held writes reach the tables, before records are acked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from traitflow.worker.batch import Batcher, Outbox
from traitflow.worker.sinks import Sinks
from traitflow.worker.store.held import PROCESSING, WriteBehind, flush_held


@dataclass(eq=False)
class Record:
    """A fetched record as the batcher sees it (Faust's ``Message`` has a partition too)."""

    name: str
    partition: int = 0


class RecordingSink:
    """Sends resolve only when the test says the broker acknowledged them."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.acks: list[asyncio.Future[None]] = []

    async def send(self, *, key: Any = None, value: Any = None, headers: Any = None,
                   partition: Any = None) -> asyncio.Future[None]:  # fmt: skip
        self.log.append(f"send {value!r}")
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


class NothingHeld:
    def seal(self) -> None:
        pass

    async def flush(self, last_records: Mapping[int, Any]) -> int:
        return 0

    def discard(self, partition: int, keep_flushing: bool = False) -> None:
        pass

    def abandon(self) -> None:
        pass


class HeldTables:
    """Held writes of the given tables, recording each flush in ``log``."""

    def __init__(self, tables: list[WriteBehind], log: list[str]) -> None:
        self.tables, self.log = tables, log

    def seal(self) -> None:
        for table in self.tables:
            table.seal()

    async def flush(self, last_records: Mapping[int, Any]) -> int:
        self.log.extend(f"flush {partition}" for partition in last_records)
        return await flush_held(self.tables, last_records)

    def discard(self, partition: int, keep_flushing: bool = False) -> None:
        for table in self.tables:
            table.discard(partition, keep_flushing)

    def abandon(self) -> None:
        for table in self.tables:
            table.abandon()


def sinks_for(sink: RecordingSink, published: list[Any]) -> Sinks:
    return Sinks(
        sink, sink, sink, sink, sink, sink, published=lambda p, events: published.append(events)
    )


def logging_batcher(
    log: list[str], max_messages: int = 2
) -> tuple[Batcher, RecordingSink, dict[bytes, bytes], list[Any], WriteBehind]:
    """A batcher whose records each hold a write and publish a transition, all logged."""
    sink, published = RecordingSink(log), []
    outbox = Outbox(sinks_for(sink, published))
    table: dict[bytes, bytes] = {}
    held = WriteBehind(table)

    async def process(record: Record) -> int:
        held.partition = record.partition
        held[record.name.encode()] = record.name.encode()
        await outbox.publish_transitions(record.partition, [{"person": record.name}])
        return 1

    batcher = Batcher(process, outbox, HeldTables([held], log), lambda r: r.name == "tick",
                      max_messages=max_messages)  # fmt: skip
    return batcher, sink, table, published, held


def logged_ack(log: list[str]) -> Callable[[Record], None]:
    return lambda record: log.append(f"ack {record.name}")


def acknowledge(sink: RecordingSink, failure: Exception | None = None) -> None:
    for acknowledgement in sink.acks:
        if not acknowledgement.done():
            if failure is None:
                acknowledgement.set_result(None)
            else:
                acknowledgement.set_exception(failure)


async def test_a_batch_waits_for_acknowledgements_then_writes_then_acks_records() -> None:
    log: list[str] = []
    batcher, sink, table, published, _ = logging_batcher(log)
    await batcher.take([Record("a", 0), Record("b", 1)], logged_ack(log))  # closed: settling
    await asyncio.sleep(0.01)
    assert table == {} and "ack a" not in log  # waiting for the broker
    acknowledge(sink)
    await batcher.drain()
    assert [line.split()[0] for line in log] == ["send", "send", "flush", "flush", "ack", "ack"]
    assert table == {b"a": b"a", b"b": b"b"}
    assert published == [[{"person": "a"}], [{"person": "b"}]]


async def test_the_next_batch_is_processed_while_one_settles_and_batches_settle_in_order() -> None:
    log: list[str] = []
    batcher, sink, table, _, _ = logging_batcher(log, max_messages=1)
    await batcher.take([Record("a")], logged_ack(log))  # closed: it settles in the background
    second = asyncio.create_task(batcher.take([Record("b")], logged_ack(log)))
    await asyncio.sleep(0.01)
    assert [line.split()[0] for line in log] == ["send", "send"] and table == {}
    assert not second.done()  # "b" is processed; closed, it waits for "a" to settle
    sink.acks[0].set_result(None)
    await second
    assert table == {b"a": b"a"} and log[-1] == "ack a"
    acknowledge(sink)
    await batcher.drain()
    assert [line for line in log if line.startswith("ack")] == ["ack a", "ack b"]
    assert table == {b"a": b"a", b"b": b"b"}


async def test_a_scanning_record_waits_until_every_earlier_write_is_in_the_tables() -> None:
    log: list[str] = []
    batcher, sink, table, _, _ = logging_batcher(log, max_messages=100)
    tick = asyncio.create_task(batcher.take([Record("a"), Record("tick")], logged_ack(log)))
    await asyncio.sleep(0.01)
    assert not tick.done() and table == {}
    acknowledge(sink)
    await asyncio.sleep(0.01)
    assert tick.done() and b"a" in table and b"tick" not in table


async def test_a_refused_send_stops_acking_and_fails_every_later_batch() -> None:
    log: list[str] = []
    failures: list[BaseException] = []
    batcher, sink, table, _, _ = logging_batcher(log, max_messages=1)
    batcher.failed = failures.append
    await batcher.take([Record("a")], logged_ack(log))
    acknowledge(sink, failure=TimeoutError())
    await asyncio.sleep(0.01)
    assert len(failures) == 1 and isinstance(failures[0], TimeoutError)
    with pytest.raises(TimeoutError):
        await batcher.take([Record("b")], logged_ack(log))
    assert not [line for line in log if line.startswith("ack")] and table == {}


async def test_a_delivery_is_one_batch_split_by_size_and_before_a_scanning_record() -> None:
    closed: list[list[str]] = []

    async def process(record: Record) -> int:
        return 1

    batcher = Batcher(process, Outbox(sinks_for(RecordingSink([]), [])), NothingHeld(),
                      lambda r: r.name == "tick", max_messages=2,
                      closed=lambda records: closed.append([r.name for r in records]))  # fmt: skip
    names = ("m1", "m2", "m3", "tick", "m4")
    await batcher.take([Record(name) for name in names], lambda record: None)
    await batcher.take([Record("m5")], lambda record: None)
    await batcher.drain()
    assert closed == [["m1", "m2"], ["m3"], ["tick", "m4"], ["m5"]]


async def test_records_are_processed_with_their_partition_as_the_current_one() -> None:
    seen: list[int | None] = []

    async def process(record: Record) -> int:
        seen.append(PROCESSING.get())
        return 1

    batcher = Batcher(process, Outbox(sinks_for(RecordingSink([]), [])), NothingHeld(),
                      lambda r: False, max_messages=10)  # fmt: skip
    await batcher.take([Record("a", 3), Record("b", 1)], lambda record: None)
    assert seen == [3, 1] and PROCESSING.get() is None


async def test_a_rebalance_drops_the_revoked_partitions_records_unacked() -> None:
    log: list[str] = []
    batcher, sink, table, published, _ = logging_batcher(log, max_messages=2)
    await batcher.take([Record("kept", 0), Record("moved", 1)], logged_ack(log))  # settling
    batcher.discard({1})
    acknowledge(sink)
    await batcher.drain()
    assert [line for line in log if line.startswith("ack")] == ["ack kept"]
    assert table == {b"kept": b"kept"} and published == [[{"person": "kept"}]]


async def test_a_closed_batch_waiting_for_the_one_before_it_is_dropped_by_a_rebalance() -> None:
    """A closed batch waits for the batch before it to settle; a revocation then drops its
    held writes of the revoked partition, so its records of that partition must not be
    acked either: acked, their offsets are committed and the new owner starts after them
    (a profile lost: seen on Apache Kafka, the first bundle of a partition missing)."""
    log: list[str] = []
    batcher, sink, table, _, _ = logging_batcher(log, max_messages=1)
    await batcher.take([Record("first", 0)], logged_ack(log))  # settling, unacknowledged
    second = asyncio.create_task(batcher.take([Record("moved", 1)], logged_ack(log)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(sink.acks) == 2 and batcher.settled is not None  # closed, waiting
    batcher.discard({1})
    acknowledge(sink)
    await second
    await batcher.drain()
    acked = [line.removeprefix("ack ") for line in log if line.startswith("ack")]
    assert acked == ["first"] and table == {b"first": b"first"}


async def test_a_rebalance_while_a_batch_is_written_leaves_no_table_half_written() -> None:
    """The revocation arrives between two tables' writes of one batch (each awaits its
    changelog sends): every table gets the batch's writes, or a profile would be stored
    without the schedule entry that makes it come due (seen on Apache Kafka)."""
    log: list[str] = []
    sink, published = RecordingSink(log), []
    outbox = Outbox(sinks_for(sink, published))
    profiles: dict[bytes, bytes] = {}
    schedule: dict[bytes, bytes] = {}
    tables = [WriteBehind(profiles), WriteBehind(schedule)]
    batcher: Batcher

    class Revoking(HeldTables):
        async def flush(self, last_records: Mapping[int, Any]) -> int:
            written = await self.tables[0].flush(1)
            batcher.discard({1})  # the rebalance, while the first table's sends are out
            written += await self.tables[1].flush(1)
            for table in self.tables:
                table.release()
            return written

    async def process(record: Record) -> int:
        for table in tables:
            table.partition = record.partition
            table[record.name.encode()] = b"x"
        return 1

    batcher = Batcher(process, outbox, Revoking(tables, log), lambda r: False, max_messages=1)
    await batcher.take([Record("ada", 1)], logged_ack(log))
    acknowledge(sink)
    await batcher.drain()
    assert profiles == schedule == {b"ada": b"x"}
    assert "ack ada" not in log  # processed again by the partition's next owner


async def test_a_delivery_the_flow_stops_in_abandons_its_open_batch_unacked() -> None:
    """A rebalance stops the flow: the records processed so far are not acked, and their
    writes are forgotten, since Faust seeks back to the committed offsets."""
    log: list[str] = []
    batcher, sink, table, _, held = logging_batcher(log, max_messages=100)
    records = [Record("a"), Record("b"), Record("c")]
    await batcher.take(records, logged_ack(log), active=lambda: len(sink.acks) < 2)
    acknowledge(sink)
    await batcher.drain()
    assert len(sink.acks) == 2 and not [line for line in log if line.startswith("ack")]
    assert table == {} and held.get(b"a") is None and held.get(b"b") is None


async def test_a_cancelled_delivery_abandons_its_open_batch() -> None:
    log: list[str] = []
    batcher, _, table, _, held = logging_batcher(log, max_messages=100)
    process, blocked = batcher.process, asyncio.Event()

    async def blocking(record: Record) -> int:
        if record.name == "b":
            await blocked.wait()
        return await process(record)

    batcher.process = blocking
    delivery = asyncio.create_task(batcher.take([Record("a"), Record("b")], logged_ack(log)))
    await asyncio.sleep(0.01)
    delivery.cancel()  # Faust cancels its fetcher on a rebalance
    with pytest.raises(asyncio.CancelledError):
        await delivery
    assert held.get(b"a") is None and not batcher.records
    await batcher.drain()
    assert table == {} and not [line for line in log if line.startswith("ack")]
