"""Benchmark v0: how close the traitflow worker gets to the ceiling, measured in one run.

Fills an events topic with N messages of the standard workload (benchmarks/README.md),
then measures over that same topic:
  (a) raw aiokafka getmany + orjson.loads: the ceiling for a Python consumer;
  (b) a naive Faust agent doing one RocksDB table read + write per event;
  (c) the traitflow worker (validation, identity, profiles, 100 segments, membership events).
Then the same messages as bundles (records carrying many messages of one partition, as
``traitflow.ingest.bundles`` makes them) on a second topic:
  (a') raw aiokafka getmany + split + orjson.loads of every message: that topic's ceiling;
  (d) the traitflow worker on it.
Prints events/s and the ratios. Uses the embedded broker unless
KAFKA_BOOTSTRAP is set. Usage: python benchmarks/throughput.py [--events N]
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import orjson
import workload
from aiokafka import AIOKafkaConsumer, TopicPartition
from common import broker_for_run, faust_run, fill, save_figures, script_arguments

from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings


async def raw_ceiling(settings: Settings, total: int) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topics.events, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, started = 0, time.perf_counter()
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for record in records:
                    for line in record.value.split(b"\n"):
                        orjson.loads(line)
                        seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def main() -> None:
    parser = script_arguments(__doc__, partitions=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=workload.PEOPLE)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-"))
    messages = workload.messages(args.events, args.people)
    print(f"{args.events} messages, {args.people} people, {args.partitions} partitions")
    with broker_for_run() as settings_for:
        single, bundled = (settings_for(workdir, args.partitions) for _ in range(2))
        for settings, bundles in ((single, False), (bundled, True)):
            asyncio.run(apply_definitions(settings, workload.definitions()))
            asyncio.run(fill(settings, messages, bundled=bundles))
        ceiling = asyncio.run(raw_ceiling(single, args.events))
        naive = faust_run("naive", single, args.events, workdir)
        ours = faust_run("traitflow", single, args.events, workdir)
        bundled_ceiling = asyncio.run(raw_ceiling(bundled, args.events))
        ours_bundled = faust_run("traitflow", bundled, args.events, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    rows = [
        ("(a) raw aiokafka + orjson, one message per record (ceiling)", ceiling, ceiling),
        ("(b) naive Faust agent, table read+write per event", naive, ceiling),
        ("(c) traitflow worker, one message per record", ours, ceiling),
        ("(a') raw aiokafka + orjson, bundled records (ceiling)", bundled_ceiling, bundled_ceiling),
        ("(d) traitflow worker, bundled records", ours_bundled, bundled_ceiling),
    ]
    print("\n| path | events/s | of its topic's ceiling | vs naive |")
    print("| --- | ---: | ---: | ---: |")
    for name, rate, top in rows:
        print(f"| {name} | {rate:,.0f} | {rate / top:.1%} | {rate / naive:.2f} |")
    print(
        f"\n(c)/(a) = {ours / ceiling:.3f}   (c)/(b) = {ours / naive:.2f}   "
        f"(d)/(a') = {ours_bundled / bundled_ceiling:.3f}   (d)/(a) = {ours_bundled / ceiling:.3f}"
        f"   (d)/(b) = {ours_bundled / naive:.2f}"
    )
    save_figures(
        args.json,
        {"ceiling": ceiling, "naive": naive, "single": ours,
         "bundled_ceiling": bundled_ceiling, "bundled": ours_bundled},
    )  # fmt: skip


if __name__ == "__main__":
    main()
