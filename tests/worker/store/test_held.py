"""Held writes: read back at once, written to the table only when flushed, layer by layer
in the order they were sealed, each under a record of its own partition."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from faust.streams import current_event

from traitflow.worker.store.held import Layer, State, WriteBehind, flush_held


@dataclass(eq=False)
class Record:
    """A fetched record as Faust's ``Message`` offers it to a table: its partition."""

    name: str
    partition: int


async def test_held_writes_are_read_back_and_reach_the_table_only_when_flushed() -> None:
    table: dict[bytes, bytes] = {b"old": b"1", b"gone": b"2"}
    held = WriteBehind(table)
    held.partition = 3
    held[b"new"] = b"3"
    held.pop(b"gone")
    assert (held.get(b"new"), held.get(b"gone"), held.get(b"old")) == (b"3", None, b"1")
    assert table == {b"old": b"1", b"gone": b"2"}
    held.seal()
    assert await held.flush(partition=0) == 0  # another partition's writes stay held
    assert await held.flush(partition=3) == 2
    assert table == {b"old": b"1", b"new": b"3"}


async def test_a_sealed_batch_s_writes_are_read_until_written_and_a_newer_batch_s_win() -> None:
    table: dict[bytes, bytes] = {}
    held = WriteBehind(table)
    held[b"a"], held[b"b"] = b"first", b"first"
    held.seal()
    held[b"a"] = b"second"  # the next batch, processed while the first settles
    assert (held.get(b"a"), held.get(b"b")) == (b"second", b"first")
    assert await held.flush(0) == 2  # the first batch's writes only
    held.release()
    assert table == {b"a": b"first", b"b": b"first"} and held.get(b"a") == b"second"
    held.seal()
    await held.flush(0)
    held.release()
    assert table == {b"a": b"second", b"b": b"first"} and not held.sealed


async def test_a_revoked_partition_s_held_writes_are_forgotten() -> None:
    table: dict[bytes, bytes] = {}
    held = WriteBehind(table)
    held.partition = 1
    held[b"a"] = b"1"
    held.seal()
    held[b"b"] = b"2"
    held.discard(1)
    held.seal()
    assert held.get(b"a") is None and held.get(b"b") is None
    assert await held.flush(1) == 0 and table == {}


class FaustLikeTable(dict[bytes, bytes]):
    """Writes into the partition of the event being processed, as a Faust table does."""

    def __init__(self) -> None:
        super().__init__()
        self.partitions: dict[bytes, int] = {}

    def __setitem__(self, key: bytes, value: bytes) -> None:
        current = current_event()
        assert current is not None, "a Faust table is written during an event"
        self.partitions[key] = current.message.partition  # type: ignore[attr-defined]
        super().__setitem__(key, value)


async def test_held_writes_are_flushed_under_an_event_of_their_own_partition() -> None:
    table = FaustLikeTable()
    held = WriteBehind(table)
    for partition, key in ((0, b"a"), (2, b"b"), (0, b"c")):
        held.partition = partition
        held[key] = b"x"
    held.seal()
    last = {0: Record("r1", 0), 2: Record("r2", 2)}
    assert await flush_held([held], last) == 3
    assert table.partitions == {b"a": 0, b"b": 2, b"c": 0} and current_event() is None


async def test_layers_go_open_sealed_written_one_way_only() -> None:
    held = WriteBehind({})
    held[b"a"] = b"1"
    first = held.held
    held.seal()
    assert first.state is State.SEALED and held.held.state is State.OPEN
    await held.flush(0)
    held.release()
    assert first.state is State.WRITTEN and not held.sealed
    with pytest.raises(RuntimeError, match="written -> sealed"):
        first.move(State.OPEN, State.SEALED)
    with pytest.raises(IndexError):
        held.release()  # nothing sealed: nothing to release
    assert Layer().state is State.OPEN


def test_a_scan_sees_the_held_writes_and_deletions_of_its_partition() -> None:
    """Previews, backfills and retention sweeps page through keys between batches: a
    profile whose batch is not written yet is there, one deleted in it is not."""
    table: dict[bytes, bytes] = {b"a": b"", b"c": b"", b"e": b"", b"g": b""}
    held = WriteBehind(table)
    held[b"b"] = b"new"
    held.pop(b"c")
    held.seal()
    held[b"d"] = b"new"
    held.pop(b"e")
    held.partition = 1
    held[b"f"] = b"another partition's"
    assert held.keys(0, None, 10) == [b"a", b"b", b"d", b"g"]
    assert held.keys(0, None, 2) == [b"a", b"b"]
    assert held.keys(0, b"b", 2) == [b"d", b"g"]  # two deletions did not shorten the page
    assert held.keys(0, b"d", 2) == [b"g"]
    held.partition = 0
    held[b"c"] = b"back"  # deleted by the sealed batch, written again by the open one
    assert held.keys(0, None, 3) == [b"a", b"b", b"c"]
