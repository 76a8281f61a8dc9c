"""Benchmark v0: how close the traitflow worker gets to the ceiling, measured in one run.

Fills an events topic with N realistic messages, then measures over that same topic:
  (a) raw aiokafka getmany + orjson.loads: the ceiling for a Python consumer;
  (b) a naive Faust agent doing one RocksDB table read + write per event;
  (c) the traitflow worker (validation, profiles, example segments, membership events).
Prints events/s and the ratios (c)/(a) and (c)/(b). Uses the embedded broker unless
KAFKA_BOOTSTRAP is set. Usage: python benchmarks/throughput.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from traitflow.assets import asset_dir
from traitflow.broker.clients import producer
from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.serve import prepare
from traitflow.config import Settings
from traitflow.ingest.demo import demo_message
from traitflow.segments import load_definitions
from traitflow.segments.topic import apply_definitions
from traitflow.worker.process import settings_env, stop_process

RUNNER = Path(__file__).with_name("faust_runner.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def fill(settings: Settings, total: int, people: int) -> None:
    rng = random.Random(7)
    async with producer(settings) as client:
        batch = []
        for _ in range(total):
            message = demo_message(rng)
            message["userId"] = f"user-{rng.randrange(people)}"
            batch.append(
                await client.send(
                    settings.topics.events, orjson.dumps(message), key=message["userId"].encode()
                )
            )
        for acknowledgement in batch:
            await acknowledgement


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
                    orjson.loads(record.value)
                seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def faust_run(mode: str, settings: Settings, total: int, workdir: Path) -> float:
    result = workdir / f"{mode}.json"
    env = {**os.environ, **settings_env(settings)}
    log = (workdir / f"{mode}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), mode, str(total), str(result)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not result.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{mode} run failed; see {workdir / f'{mode}.log'}")
            time.sleep(0.2)
        time.sleep(0.2)
        figures = orjson.loads(result.read_bytes())
        return float(figures["events"] / figures["seconds"])
    finally:
        stop_process(process)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--people", type=int, default=2_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-"))
        external = os.environ.get("KAFKA_BOOTSTRAP", "")
        common = {
            "topic_prefix": f"bench-{uuid.uuid4().hex[:8]}",
            "partitions": args.partitions,
            "data_dir": workdir / "state",
            "web_port": free_port(),
            "session_timeout_s": 6.0,
            "log_level": "warning",
        }
        if external:
            settings = Settings(bootstrap_servers=external, **common)
        else:
            settings = Settings(embedded_port=free_port(), **common)
            stack.enter_context(EmbeddedBroker(settings.embedded_port))
        asyncio.run(prepare(settings))
        asyncio.run(
            apply_definitions(settings, load_definitions(asset_dir("examples") / "segments.yaml"))
        )
        print(
            f"filling {settings.topics.events}: {args.events} messages, {args.people} people",
            flush=True,
        )
        asyncio.run(fill(settings, args.events, args.people))

        ceiling = asyncio.run(raw_ceiling(settings, args.events))
        naive = faust_run("naive", settings, args.events, workdir)
        ours = faust_run("traitflow", settings, args.events, workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("| path | events/s | of ceiling |")
    print("| --- | ---: | ---: |")
    for name, rate in [
        ("(a) raw aiokafka + orjson (ceiling)", ceiling),
        ("(b) naive Faust agent, table read+write per event", naive),
        ("(c) traitflow worker", ours),
    ]:
        print(f"| {name} | {rate:,.0f} | {rate / ceiling:.1%} |")
    print()
    print(f"(c)/(a) = {ours / ceiling:.3f}   (c)/(b) = {ours / naive:.2f}")


if __name__ == "__main__":
    main()
