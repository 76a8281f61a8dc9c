"""End-to-end latency at half the worker's maximum rate, from message to membership event.

First measures the worker's maximum rate on the standard workload: a filled topic of as
many messages as throughput.py's, since profiles grow as a run goes on and a shorter run
measures a higher rate (report.py passes throughput.py's figure instead). Then starts a
`traitflow worker`, sends the standard workload at half that rate for a while, each
message stamped with the time it is sent, and reads the membership topic. A
message-caused event's latency is its record's Kafka timestamp (set when the worker
publishes it) minus its ``at`` (the message's timestamp). Prints the distribution.
Usage: python benchmarks/latency.py [--seconds S] [--rate N] [--max-events N]
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import workload
from common import broker_for_run, faust_run, fill, save_figures, script_arguments

from traitflow.broker.clients import producer, reader
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments.ops import parse_time_ms
from traitflow.timeutil import iso_from_ms, now_ms
from traitflow.worker.process import start_worker, stop_process

TICK_S = 0.01


async def wait_ready(settings: Settings, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{settings.web_port}/readyz"
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the worker never became ready")


async def send_paced(settings: Settings, messages: list[dict[str, Any]], rate: float) -> None:
    """``rate`` messages/s, each stamped with the time it leaves."""
    per_tick = max(1, round(rate * TICK_S))
    started = time.monotonic()
    async with producer(settings) as client:
        for tick, first in enumerate(range(0, len(messages), per_tick)):
            pending = []
            for message in messages[first : first + per_tick]:
                stamped = {**message, "timestamp": iso_from_ms(now_ms())}
                key = str(message["userId"]).encode()
                pending.append(
                    await client.send(settings.topics.events, orjson.dumps(stamped), key=key)
                )
            await asyncio.gather(*pending)
            pause = started + (tick + 1) * TICK_S - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)


async def read_latencies(settings: Settings, until: float) -> list[float]:
    latencies: list[float] = []
    async with reader(settings, settings.topics.membership) as consumer:
        await consumer.seek_to_beginning()
        while time.monotonic() < until:
            batch = await consumer.getmany(timeout_ms=200)
            for record in (r for records in batch.values() for r in records):
                event = orjson.loads(record.value)
                if event["cause"]["kind"] == "message":
                    latencies.append(record.timestamp - (parse_time_ms(event["at"]) or 0))
    return latencies


async def measure(settings: Settings, messages: list[dict[str, Any]], rate: float) -> list[float]:
    seconds = len(messages) / rate
    reading = asyncio.create_task(read_latencies(settings, time.monotonic() + seconds + 10))
    await send_paced(settings, messages, rate)
    return await reading


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s; 0 = half the max")
    parser.add_argument("--max-events", type=int, default=100_000, help="to measure the max")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-e2e-"))
    with broker_for_run() as settings_for:
        rate = args.rate
        if not rate:
            sample = settings_for(workdir, 4)
            asyncio.run(apply_definitions(sample, workload.definitions()))
            asyncio.run(fill(sample, workload.messages(args.max_events, seed=3)))
            maximum = faust_run("traitflow", sample, args.max_events, workdir)
            rate = maximum / 2
            print(f"maximum {maximum:,.0f} messages/s; measuring at {rate:,.0f}/s", flush=True)
        settings = settings_for(workdir, 4)
        asyncio.run(apply_definitions(settings, workload.definitions()))
        worker = start_worker(settings, workdir / "worker.log")
        try:
            asyncio.run(wait_ready(settings))
            messages = workload.messages(int(rate * args.seconds), seed=4)
            latencies = sorted(asyncio.run(measure(settings, messages, rate)))
        finally:
            stop_process(worker)
    shutil.rmtree(workdir, ignore_errors=True)
    if not latencies:
        raise SystemExit("no membership event seen")
    count = f"{len(latencies):,} membership events from {len(messages):,} messages"
    print(f"\n{count} at {rate:,.0f}/s")
    print("| p50 | p90 | p99 | max |\n| ---: | ---: | ---: | ---: |")
    row = [percentile(latencies, q) for q in (0.5, 0.9, 0.99)] + [latencies[-1]]
    print("| " + " | ".join(f"{value:.0f} ms" for value in row) + " |")
    names = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
    save_figures(
        args.json, {"rate": rate, "events": len(latencies), **dict(zip(names, row, strict=True))}
    )


if __name__ == "__main__":
    main()
