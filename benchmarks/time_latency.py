"""How long after its instant a time-driven flip reaches the membership topic.

Starts the embedded broker (or uses KAFKA_BOOTSTRAP) and a worker on the system clock,
applies "visited in the last W seconds", sends one visit for each of N people spread over
a few seconds, and waits for their exits. For each exit, the delay is the membership
record's Kafka timestamp minus the event's ``at`` (the exact instant the window let the
person go). Prints the delay distribution and the tick setting it depends on.
Usage: python benchmarks/time_latency.py [--people N] [--window S] [--tick S]
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from common import broker_for_run, fill, script_arguments

from traitflow.broker.clients import reader
from traitflow.catalog.topic import apply_definitions
from traitflow.segments import segment_from_spec
from traitflow.segments.ops import parse_time_ms
from traitflow.timeutil import iso_from_ms, now_ms
from traitflow.worker.process import start_worker, stop_process


async def exit_delays(settings, people: int, timeout: float) -> list[float]:  # type: ignore[no-untyped-def]
    delays: list[float] = []
    async with reader(settings, settings.topics.membership) as consumer:
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        while len(delays) < people and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for record in (r for records in batch.values() for r in records):
                event = orjson.loads(record.value)
                if event["type"] == "audience.exited":
                    at = parse_time_ms(event["at"]) or 0
                    delays.append((record.timestamp - at) / 1000)
    return delays


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--window", type=int, default=10, help="seconds")
    parser.add_argument("--tick", type=float, default=1.0, help="TRAITFLOW_TICK_S")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-latency-"))
    with broker_for_run() as settings_for:
        settings = settings_for(workdir, 4).model_copy(update={"tick_s": args.tick})
        window = {"last": args.window, "unit": "seconds"}
        segment = segment_from_spec(
            {"key": "recent", "condition": {"event": "Visit", "within": window}}
        )
        asyncio.run(apply_definitions(settings, [segment]))
        worker = start_worker(settings, workdir / "worker.log")
        try:
            time.sleep(8)  # group join
            rng = random.Random(1)
            start = now_ms()
            visits = [
                {"type": "track", "userId": f"p{n}", "event": "Visit",
                 "timestamp": iso_from_ms(start + rng.randrange(3000))}
                for n in range(args.people)
            ]  # fmt: skip
            asyncio.run(fill(settings, visits))
            delays = asyncio.run(exit_delays(settings, args.people, args.window + 60))
        finally:
            stop_process(worker)
    shutil.rmtree(workdir, ignore_errors=True)
    delays.sort()
    print(
        f"\n{len(delays)} of {args.people} exits seen; tick {args.tick}s; delay after the instant:"
    )
    print("| p50 | p95 | max |\n| ---: | ---: | ---: |")
    p95 = delays[int(len(delays) * 0.95) - 1] if delays else float("nan")
    print(f"| {statistics.median(delays):.2f}s | {p95:.2f}s | {max(delays):.2f}s |")


if __name__ == "__main__":
    main()
