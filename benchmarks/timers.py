"""Scheduled instants cost nothing until due: message processing with 0 vs 1,000,000 of them.

The schedule is the same RocksDB (rocksdict, raw mode) layout the worker's Faust table
uses: one key ``<instant>/<person>`` per profile with a future due instant. In one run,
prints (1) events/s of the pure engine plus profile and schedule writes, with an empty
schedule and with one holding N idle instants (none due), and their ratio; (2) the cost of
one timer tick looking for due work on that partition.
Usage: python benchmarks/timers.py [--scheduled N] [--events N]
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import orjson
from common import script_arguments
from rocksdict import Options, Rdict, WriteBatch

from traitflow.ingest.messages import Message, parse_message
from traitflow.segments import Registry, segment_from_spec
from traitflow.segments.pipeline import process
from traitflow.timeutil import iso_from_ms
from traitflow.worker.store.profiles import ProfileStore, schedule_key

NOW = 1_795_420_800_000
DAY = 86_400_000


class RocksTable(MutableMapping[bytes, bytes]):
    """One partition of a table, shaped like Faust's RocksDB store for ``ProfileStore``."""

    offset_key = b"__faust\x00offset__"

    def __init__(self, path: Path) -> None:
        self.db = Rdict(str(path), Options(raw_mode=True))

    def _db_for_partition(self, partition: int) -> Rdict:
        return self.db

    @property
    def data(self) -> RocksTable:
        return self

    def __getitem__(self, key: bytes) -> bytes:
        value = self.db.get(key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.db.delete(key)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.db.keys())

    def __len__(self) -> int:
        raise NotImplementedError


def fill_schedule(table: RocksTable, count: int) -> None:
    """``count`` idle people, each due some time in the next 30 days."""
    rng = random.Random(3)
    batch = WriteBatch(raw_mode=True)
    for n in range(count):
        batch.put(schedule_key(NOW + DAY + rng.randrange(30 * DAY), f"idle-{n}".encode()), b"")
        if n % 100_000 == 99_999:
            table.db.write(batch)
            batch = WriteBatch(raw_mode=True)
    table.db.write(batch)


def traffic(total: int) -> list[Message]:
    rng = random.Random(5)
    found = []
    for n in range(total):
        body = {"type": "track", "userId": f"active-{rng.randrange(2_000)}", "event": "Visit",
                "timestamp": iso_from_ms(NOW + n * 10)}  # fmt: skip
        found.append(parse_message(orjson.dumps(body), max_bytes=32_768, fallback_timestamp_ms=0))
    return found


def events_per_second(store: ProfileStore, registry: Registry, messages: list[Message]) -> float:
    started = time.perf_counter()
    for message in messages:
        person = message.person.encode()
        profile = store.load(person)
        previous = profile.next_due_ms() if profile else None
        outcome = process(profile, message, registry, "__null__", message.timestamp_ms)
        store.save(person, outcome.profile, previous)
    return len(messages) / (time.perf_counter() - started)


def tick_cost_us(store: ProfileStore, rounds: int = 2_000) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        store.first_due(0)
    return (time.perf_counter() - started) / rounds * 1e6


def measure(
    workdir: Path, name: str, scheduled: int, messages: list[Message]
) -> tuple[float, float]:
    busy = {"event": "Visit", "count": {"at_least": 3}, "within": {"last": 1, "unit": "hours"}}
    registry = Registry([segment_from_spec({"key": "active", "condition": busy})])
    schedule = RocksTable(workdir / f"{name}-schedule")
    fill_schedule(schedule, scheduled)
    store = ProfileStore(RocksTable(workdir / f"{name}-profiles"), schedule)
    rate = events_per_second(store, registry, messages)
    return rate, tick_cost_us(store)


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--scheduled", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    messages = traffic(args.events)
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-timers-"))
    try:
        # Alternate and keep each configuration's best run, so warm-up favours neither.
        runs = [("empty", 0), ("full", args.scheduled), ("empty2", 0), ("full2", args.scheduled)]
        results = {name: measure(workdir, name, count, messages) for name, count in runs}
        empty = max(results["empty"], results["empty2"])
        full = max(results["full"], results["full2"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n| scheduled idle instants | events/s (engine + state writes) | one tick, µs |")
    print("| ---: | ---: | ---: |")
    for count, (rate, tick) in ((0, empty), (args.scheduled, full)):
        print(f"| {count:,} | {rate:,.0f} | {tick:.1f} |")
    print(f"\nevents/s with {args.scheduled:,} scheduled vs none: {full[0] / empty[0]:.2f}")


if __name__ == "__main__":
    main()
