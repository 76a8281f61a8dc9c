"""Worker memory with a million profiles, and recovery of a worker that lost its disk.

Fills the events topic with one ``identify`` per person (1,000,000 people by default,
bundled records), runs one worker over it with the standard workload's 100 segments, and
reads the worker's resident set size (now and at its peak) once every message is
processed: state lives in RocksDB, so RSS must not grow with the profiles. Then deletes
the worker's local RocksDB directory and starts it again: the time from its partition
assignment to the end of changelog recovery gives the rebuild rate in profiles/s.
Usage: python benchmarks/state.py [--people N] [--json PATH]
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import workload
from common import (
    broker_for_run,
    faust_process,
    memory_of,
    save_figures,
    script_arguments,
    wait_for,
)

from traitflow.catalog.topic import apply_definitions
from traitflow.ingest.publisher import publish_messages
from traitflow.timeutil import iso_from_ms, now_ms

GIB = 1 << 30


def identifies(people: int, seed: int = 3) -> Iterator[tuple[bytes, bytes]]:
    """One identify per person, spread over the last day, with the workload's traits."""
    rng, end = random.Random(seed), now_ms()
    for person in range(people):
        user = f"user-{person}"
        message = {
            "type": "identify",
            "userId": user,
            "messageId": f"state-{person}",
            "timestamp": iso_from_ms(end - 86_400_000 + person * 86_400_000 // people),
            "traits": {
                "plan": rng.choice(workload.PLANS),
                "country": rng.choice(workload.COUNTRIES),
                "age": rng.randrange(18, 80),
                "seats": rng.randrange(1, 50),
            },
        }
        yield user.encode(), orjson.dumps(message)


def main() -> None:
    parser = script_arguments(__doc__, partitions=True)
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-state-"))
    print(f"{args.people:,} people (one identify each), {args.partitions} partitions")
    with broker_for_run() as settings_for:
        settings = settings_for(workdir, args.partitions)
        asyncio.run(apply_definitions(settings, workload.definitions()))
        asyncio.run(publish_messages(settings, settings.topics.events, identifies(args.people)))
        with faust_process("traitflow", settings, args.people, workdir) as (process, result):
            processed = wait_for(result, process, timeout=3600)
            memory = memory_of(process.pid)
        shutil.rmtree(settings.data_dir / settings.app_id)  # the worker's RocksDB, all of it
        with faust_process("recover", settings, 0, workdir) as (process, result):
            recovered = wait_for(result, process, timeout=3600)
    shutil.rmtree(workdir, ignore_errors=True)
    figures = {
        "people": args.people,
        "events_per_s": processed["events"] / processed["seconds"],
        "rss_bytes": memory["rss"],
        "peak_rss_bytes": memory["peak_rss"],
        "recovered_profiles": recovered["profiles"],
        "recovery_s": recovered["seconds"],
        "recovery_profiles_per_s": args.people / recovered["seconds"],
    }
    print("\n| figure | value |")
    print("| --- | ---: |")
    print(f"| profiles processed | {args.people:,} at {figures['events_per_s']:,.0f}/s |")
    print(f"| worker RSS after | {memory['rss'] / GIB:.2f} GiB |")
    print(f"| worker peak RSS | {memory['peak_rss'] / GIB:.2f} GiB (target under 1 GiB) |")
    print(
        f"| rebuilt from changelogs | {recovered['profiles']:,} profiles (RocksDB estimate) "
        f"in {recovered['seconds']:.1f} s: {figures['recovery_profiles_per_s']:,.0f} profiles/s |"
    )
    save_figures(args.json, figures)


if __name__ == "__main__":
    main()
