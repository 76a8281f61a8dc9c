"""HTTP bridge throughput into Kafka, in one run, against a raw producer and a naive bridge.

Measures, on one embedded broker (or KAFKA_BOOTSTRAP):
(a) a raw aiokafka producer sending prebuilt track messages (the ceiling, messages/s);
(b) a naive bridge: an aiohttp handler that parses JSON and awaits ``send_and_wait`` per
    message, no validation or enrichment (single requests only);
(c) ``traitflow bridge`` with single ``POST /v1/track`` requests;
(d) ``traitflow bridge`` with ``POST /v1/batch`` of BATCH messages per request.
Both bridges run as their own process; the load comes from this one (aiohttp client,
CONCURRENCY requests in flight). Every request must be answered 200.
Usage: python benchmarks/bridge.py [--requests N] [--batch B] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from common import broker_for_run, free_port, script_arguments

from traitflow.broker.clients import producer
from traitflow.config import Settings
from traitflow.timeutil import iso_from_ms, now_ms
from traitflow.worker.process import settings_env, stop_process

WRITE_KEY = "bench-write-key"
STAMP = iso_from_ms(now_ms() - 60_000)


def track(n: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"user-{n % 5000}",
        "event": f"Event {n % 20}",
        "properties": {"plan": "monthly", "value": n % 100, "path": "/pricing"},
        "context": {"library": {"name": "bench", "version": "1"}},
        "messageId": f"m-{n}",
        "timestamp": STAMP,
    }


async def raw_ceiling(settings: Settings, total: int) -> float:
    messages = [(str(n % 5000).encode(), orjson.dumps(track(n))) for n in range(total)]
    started = time.perf_counter()
    async with producer(settings) as client:
        pending = [await client.send(settings.topics.events, v, key=k) for k, v in messages]
        await asyncio.gather(*pending)
    return total / (time.perf_counter() - started)


async def load(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Requests/s for posting every body, ``concurrency`` at a time; each must get 200."""
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client() -> None:
            for body in queue:
                async with session.post(url, data=body) as answer:
                    if answer.status != 200:
                        raise RuntimeError(f"{answer.status}: {await answer.text()}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return len(bodies) / (time.perf_counter() - started)


def start_server(args: list[str], settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **settings_env(settings),
        "TRAITFLOW_BRIDGE_PORT": str(port),
        "TRAITFLOW_WRITE_KEYS": orjson.dumps({WRITE_KEY: ""}).decode(),
        "TRAITFLOW_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"{args} did not start")


def naive_server(port: int) -> None:
    """(b): the simplest bridge that still waits for Kafka's acknowledgement."""
    from aiohttp import web
    from aiokafka import AIOKafkaProducer

    settings = Settings()

    async def main() -> None:
        client = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await client.start()

        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            key = str(body.get("userId")).encode()
            await client.send_and_wait(settings.topics.events, orjson.dumps(body), key=key)
            return web.json_response({"success": True})

        app = web.Application()
        app.router.add_post("/v1/track", handle)
        app.router.add_get("/healthz", lambda _: web.json_response({}))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--naive-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_server:
        naive_server(args.naive_server)
        return
    singles = [orjson.dumps(track(n)) for n in range(args.requests)]
    batch_count = max(1, args.requests // 10)
    batches = [
        orjson.dumps({"batch": [track(b * args.batch + i) for i in range(args.batch)]})
        for b in range(batch_count)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-bridge-"))
    rows = []
    with broker_for_run() as settings_for:
        ceiling = asyncio.run(raw_ceiling(settings_for(workdir, 4), args.requests * 5))
        rows.append(("(a) raw aiokafka producer, prebuilt messages (ceiling)", None, ceiling))
        settings, port = settings_for(workdir, 4), free_port()
        naive = start_server(
            [sys.executable, __file__, "--naive-server", str(port)], settings, port
        )
        try:
            rate = asyncio.run(load(f"http://127.0.0.1:{port}/v1/track", singles, args.concurrency))
        finally:
            stop_process(naive)
        rows.append(("(b) naive bridge, single requests", rate, rate))
        settings, port = settings_for(workdir, 4), free_port()
        bridge = start_server([sys.executable, "-m", "traitflow", "bridge"], settings, port)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            rate = asyncio.run(load(f"{url}/track", singles, args.concurrency))
            rows.append(("(c) traitflow bridge, single /v1/track", rate, rate))
            rate = asyncio.run(load(f"{url}/batch", batches, args.concurrency))
            rows.append(
                (f"(d) traitflow bridge, /v1/batch of {args.batch}", rate, rate * args.batch)
            )
        finally:
            stop_process(bridge)
    print(
        f"\n{args.requests:,} single requests, {batch_count:,} batches, "
        f"{args.concurrency} in flight; every answer 200 after acks=all"
    )
    print(
        "| path | requests/s | messages/s | vs (a) | vs (b) |\n| --- | ---: | ---: | ---: | ---: |"
    )
    naive_rate = rows[1][2]
    for name, requests, messages in rows:
        shown = f"{requests:,.0f}" if requests is not None else "-"
        print(
            f"| {name} | {shown} | {messages:,.0f} | {messages / ceiling:.2f} "
            f"| {messages / naive_rate:.2f} |"
        )


if __name__ == "__main__":
    main()
