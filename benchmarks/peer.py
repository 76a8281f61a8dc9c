"""The peer comparison (issue 22): the simple per-person workload, one message per record,
through every system a user might pick, on one topic of one broker, in one run.

Fills a topic with N track messages (about 230 bytes, 50,000 people, 4 partitions), then
measures over it:
  (a) raw aiokafka getmany + orjson.loads: the ceiling for a Python consumer;
  (b) Quix Streams: RocksDB state (changelogged), one get and one set per event;
  (c) a naive Faust agent: one RocksDB table read and write per event;
  (d) the traitflow worker with no segments, and (e) with 10 segments.
Prints events/s, each as a share of the ceiling and against Quix Streams.
Needs the ``bench`` extra (``pip install -e '.[bench]'``: Quix Streams).
Usage: python benchmarks/peer.py [--events N]
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from common import broker_for_run, faust_run, fill, save_figures, script_arguments, wait_for
from throughput import raw_ceiling

from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.timeutil import iso_from_ms, now_ms

QUIX = Path(__file__).with_name("quix_runner.py")
EVENTS = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]


def simple_messages(count: int, people: int) -> list[dict[str, Any]]:
    rng, start = random.Random(22), now_ms() - count * 10
    return [
        {
            "type": "track",
            "userId": f"user-{rng.randrange(people)}",
            "event": rng.choice(EVENTS),
            "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
            "timestamp": iso_from_ms(start + n * 10),
            "properties": {"price": rng.randrange(5, 500), "category": rng.choice("abcdefgh")},
        }
        for n in range(count)
    ]


def ten_segments() -> list[Any]:
    specs = [
        {"key": f"did-{n}", "condition": {"event": EVENTS[n % 4], "count": {"at_least": n + 1},
                                          "within": {"last": 7, "unit": "days"}}}
        for n in range(8)
    ] + [
        {"key": "buyer", "condition": {"event": "Order Completed", "count": {"at_least": 1}}},
        {"key": "browser", "condition": {"and": [
            {"event": "Product Viewed", "count": {"at_least": 3}},
            {"not": {"event": "Order Completed", "count": {"at_least": 1}}}]}},
    ]  # fmt: skip
    return [segment_from_spec(spec) for spec in specs]


def quix_run(settings: Settings, total: int, workdir: Path) -> float:
    result = workdir / f"quix-{settings.topic_prefix}.json"
    command = [sys.executable, str(QUIX), settings.kafka_bootstrap, settings.topics.events,
               str(total), str(result), str(workdir / "quix-state")]  # fmt: skip
    with (workdir / "quix.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            figures = wait_for(result, process)
        finally:
            process.terminate()
            process.wait(30)
    return float(figures["events"] / figures["seconds"])


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=50_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-peer-"))
    messages = simple_messages(args.events, args.people)
    with broker_for_run() as settings_for:
        bare, segmented = settings_for(workdir, 4), settings_for(workdir, 4)
        asyncio.run(apply_definitions(segmented, ten_segments()))
        for settings in (bare, segmented):
            asyncio.run(fill(settings, messages))
        ceiling = asyncio.run(raw_ceiling(bare, args.events))
        quix = quix_run(bare, args.events, workdir)
        naive = faust_run("naive", bare, args.events, workdir)
        ours = faust_run("traitflow", bare, args.events, workdir)
        ours_ten = faust_run("traitflow", segmented, args.events, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    rows = [
        ("(a) raw aiokafka getmany + orjson (ceiling)", ceiling),
        ("(b) Quix Streams (RocksDB state + changelog, one get/set per event)", quix),
        ("(c) naive Faust agent (one table read + write per event)", naive),
        ("(d) traitflow worker, no segments", ours),
        ("(e) traitflow worker, 10 segments", ours_ten),
    ]
    print(f"\n{args.events:,} track messages, {args.people:,} people, 4 partitions")
    print("| system | events/s | of the ceiling | vs Quix Streams |\n| --- | ---: | ---: | ---: |")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / ceiling:.1%} | {rate / quix:.2f} |")
    print(f"\n(d)/(b) = {ours / quix:.2f} (target: at least 1.0)")
    save_figures(args.json, {"ceiling": ceiling, "quix": quix, "naive": naive,
                             "bare": ours, "ten_segments": ours_ten})  # fmt: skip


if __name__ == "__main__":
    main()
