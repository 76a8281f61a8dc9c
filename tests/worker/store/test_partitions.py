"""Table storage: the changelog offset RocksDB records, and a lost changelog record."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from rocksdict import Options, Rdict

from traitflow.worker.store.held import WriteBehind
from traitflow.worker.store.partitions import MemoryPartitions, RocksDBPartitions
from traitflow.worker.store.rocksdb import is_storage_fault


class OffsetStore:
    """The part of Faust's RocksDB store that keeps the changelog offset it holds."""

    def __init__(self) -> None:
        self.offsets: list[int] = []

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.offsets.append(offset)


def acknowledged(offset: int | None = None, failure: Exception | None = None) -> Any:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if failure is not None:
        future.set_exception(failure)
    else:
        future.set_result(SimpleNamespace(offset=offset))
    return future


async def test_the_newest_acknowledged_changelog_offset_is_persisted_once_per_response() -> None:
    store, tp = OffsetStore(), TP("t-profiles-changelog", 0)
    partitions = RocksDBPartitions({}, store)
    for offset in (5, 3, 8):  # acknowledgements may complete out of order
        partitions._sent(tp, acknowledged(offset))
    assert store.offsets == []  # recorded once they are all told, not once per record
    await asyncio.sleep(0)
    assert store.offsets == [8]
    partitions._sent(tp, acknowledged(7))  # older: nothing to record
    partitions._sent(tp, acknowledged(9))
    await asyncio.sleep(0)
    assert store.offsets == [8, 9]


async def test_a_lost_changelog_record_fails_the_next_flush() -> None:
    held = WriteBehind({})
    held.partitions = partitions = RocksDBPartitions({}, OffsetStore())
    partitions._sent(TP("t-profiles-changelog", 0), acknowledged(failure=TimeoutError()))
    held[b"k"] = b"v"
    held.seal()
    with pytest.raises(TimeoutError):
        await held.flush(0)


async def test_a_dict_is_one_partition_in_key_order() -> None:
    table = {b"b": b"2", b"a": b"1", b"c": b"3"}
    partitions = MemoryPartitions(table)
    assert partitions.keys(0, None, 2) == [b"a", b"b"]
    assert partitions.keys(5, b"a", 10) == [b"b", b"c"]  # every partition is the one dict
    await partitions.write(0, [(b"a", None), (b"d", b"4")])
    assert table == {b"b": b"2", b"c": b"3", b"d": b"4"} and partitions.count(0) == 3


def test_a_corrupt_block_met_mid_scan_is_an_error_not_a_short_scan(tmp_path: Path) -> None:
    """A real RocksDB database whose one table file has a damaged block in the middle: the
    scan (a preview's, a backfill's) raises RocksDB's error once it meets it, instead of
    ending early as if the partition held fewer profiles."""
    path = tmp_path / "profiles-0.db"
    database = Rdict(str(path), options=Options(raw_mode=True))
    for n in range(20_000):
        database[f"person-{n:06}".encode()] = bytes(range(64))
    database.flush()
    database.close()
    [table_file] = path.glob("*.sst")
    damaged = bytearray(table_file.read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = bytes(64)
    table_file.write_bytes(bytes(damaged))
    database = Rdict(str(path), options=Options(raw_mode=True))
    store = SimpleNamespace(_db_for_partition=lambda partition: database)
    partitions = RocksDBPartitions({}, store)
    try:
        with pytest.raises(Exception, match="Corruption") as caught:
            partitions.keys(0, None, 30_000)
        assert is_storage_fault(caught.value)
    finally:
        database.close()
