"""Failover on Apache Kafka: how long a lost worker's partitions stay silent.

Two workers share the events partitions, holding one profile per person (``--people``,
one identify each). Then:

1. once the other's standby copies have caught up (``traitflow_standby_lag`` 0; the time
   that took after the fill is reported), ``kill -9`` one of them; a probe message goes to
   each of its partitions at once, and the time from the kill to each probe's membership
   event on the other worker is that partition's outage (session timeout, rebalance, and
   restoring its tables: from the standby copy, or rebuilt from the changelog without);
2. the dead worker is started again, and then a rolling restart (SIGTERM one worker, start
   it again, once it is ready the other) runs under a probe every 0.2 s on every
   partition: the longest silence of any partition is reported.

Runs twice: ``TRAITFLOW_STANDBY_REPLICAS=1`` (the default) and 0. Needs Apache Kafka:
``KAFKA_BOOTSTRAP``, else one node started with ``tests/support/apache_kafka`` (Java and Maven).
Usage: python benchmarks/failover.py [--people N] [--partitions P] [--json PATH]
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from subprocess import Popen
from typing import Any

import orjson
from common import free_port, save_figures, script_arguments
from state import identifies

from traitflow.broker.clients import reader
from traitflow.broker.partitioner import partition_of
from traitflow.broker.serve import prepare
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.ingest.publisher import publish_messages
from traitflow.segments import segment_from_spec
from traitflow.timeutil import iso_from_ms, now_ms
from traitflow.worker.process import start_worker, stop_process

PROBE = segment_from_spec(
    {"key": "failover-probe", "condition": {"trait": "probe", "op": "exists"}}
)
TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)


class Probes:
    """Probe people, one stream per partition; their membership events, as they arrive."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sent = 0
        self.arrived: dict[int, list[float]] = {p: [] for p in range(settings.partitions)}
        self._people: dict[int, list[str]] = {p: [] for p in range(settings.partitions)}
        n = 0
        while min(len(found) for found in self._people.values()) < 2000:
            person = f"probe-{n}"
            self._people[partition_of(person.encode(), settings.partitions)].append(person)
            n += 1

    async def send(self, partitions: list[int]) -> None:
        records = []
        for partition in partitions:
            person = self._people[partition][self.sent % 2000]
            message = {
                "type": "identify",
                "userId": person,
                "messageId": f"p{self.sent}-{person}",
                "timestamp": iso_from_ms(now_ms()),
                "traits": {"probe": self.sent},
            }
            records.append((person.encode(), orjson.dumps(message)))
        self.sent += 1
        await publish_messages(self.settings, self.settings.topics.events, iter(records))

    async def follow(self) -> None:
        async with reader(self.settings, self.settings.topics.membership) as consumer:
            while True:
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    for record in records:
                        event = orjson.loads(record.value)
                        if event.get("segment") == PROBE.key:
                            partition = partition_of(
                                event["person"].encode(), self.settings.partitions
                            )
                            self.arrived[partition].append(time.monotonic())


async def processed(bases: list[str], total: int, timeout: float = 3600) -> None:
    """Until the workers' identify counters sum to ``total`` and their lag is 0."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            count, lag = 0.0, 0.0
            for base in bases:
                async with http.get(f"{base}/metrics") as answer:
                    for line in (await answer.text()).splitlines():
                        if line.startswith('traitflow_messages_total{type="identify"}'):
                            count += float(line.split()[-1])
                        elif line.startswith("traitflow_consumer_lag{"):
                            lag += float(line.split()[-1])
            if count >= total and lag == 0:
                return
            await asyncio.sleep(1)
    raise TimeoutError(f"the workers did not process {total} messages in {timeout:.0f} s")


async def caught_up(base: str, timeout: float = 3600) -> None:
    """Until every standby copy the worker keeps has applied its changelog to the end
    (``traitflow_standby_lag``): the steady state a takeover starts from."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{base}/metrics") as answer:
                lags = [float(line.split()[-1]) for line in (await answer.text()).splitlines()
                        if line.startswith("traitflow_standby_lag{")]  # fmt: skip
            if not any(lags):
                return
            await asyncio.sleep(1)
    raise TimeoutError(f"{base}'s standby copies did not catch up in {timeout:.0f} s")


async def owned(base: str) -> list[int]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as answer:
        text = await answer.text()
    return sorted(int(line.split('"')[1]) for line in text.splitlines()
                  if line.startswith("traitflow_consumer_lag{"))  # fmt: skip


async def ready(base: str, timeout: float = 600) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{base} not ready in {timeout:.0f} s")


async def run(
    bootstrap: str, workdir: Path, people: int, partitions: int, standbys: int
) -> dict[str, Any]:
    settings = Settings(
        bootstrap_servers=bootstrap, topic_prefix=f"failover{standbys}-{os.getpid()}",
        partitions=partitions, data_dir=workdir / "shared", standby_replicas=standbys,
        log_level="warning", session_timeout_s=6.0,
    )  # fmt: skip
    await prepare(settings)
    await apply_definitions(settings, [TRIAL, PROBE])
    await publish_messages(settings, settings.topics.events, identifies(people))
    workers = [settings.model_copy(update={"data_dir": workdir / f"w{n}-{standbys}",
                                           "web_port": free_port()}) for n in range(2)]  # fmt: skip
    bases = [f"http://127.0.0.1:{w.web_port}" for w in workers]
    logs = [workdir / f"w{n}-{standbys}.log" for n in range(2)]
    processes: list[Popen[bytes]] = [
        start_worker(w, log) for w, log in zip(workers, logs, strict=True)
    ]
    probes = Probes(settings)
    follower = asyncio.create_task(probes.follow())
    try:
        started = time.monotonic()
        for base in bases:
            await ready(base)
        await processed(bases, people)
        fill_s = time.monotonic() - started
        filled = time.monotonic()
        await caught_up(bases[1])  # the survivor's standby copies (none without standbys)
        catch_up_s = time.monotonic() - filled
        victim = await owned(bases[0])
        seen = {p: len(probes.arrived[p]) for p in victim}
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
        killed = time.monotonic()
        await probes.send(victim)
        while any(len(probes.arrived[p]) == seen[p] for p in victim):
            if time.monotonic() - killed > 900:
                raise TimeoutError("the surviving worker never took over")
            await asyncio.sleep(0.05)
        outage = max(probes.arrived[p][seen[p]] - killed for p in victim)
        # back, then a rolling restart under steady probes
        processes[0] = start_worker(workers[0], logs[0])
        await ready(bases[0])
        await asyncio.sleep(10)

        async def steady(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await probes.send(list(range(partitions)))
                await asyncio.sleep(0.2)

        stop = asyncio.Event()
        sender = asyncio.create_task(steady(stop))
        rolling_from = time.monotonic()
        for n in range(2):
            assert stop_process(processes[n]) == 0, logs[n].read_text()[-2000:]
            processes[n] = start_worker(workers[n], logs[n])
            await ready(bases[n])
            await asyncio.sleep(5)
        stop.set()
        await sender
        await asyncio.sleep(3)
        gaps = []
        for partition in range(partitions):
            times = [rolling_from] + [t for t in probes.arrived[partition] if t >= rolling_from]
            gaps.append(
                max(b - a for a, b in itertools.pairwise(times)) if len(times) > 1 else float("inf")
            )
        return {"standby_replicas": standbys, "people": people, "fill_s": fill_s,
                "standby_catch_up_s": catch_up_s,
                "victim_partitions": victim, "outage_s": outage,
                "rolling_longest_silence_s": max(gaps)}  # fmt: skip
    finally:
        follower.cancel()
        for process in processes:
            stop_process(process)


def main() -> None:
    parser = script_arguments(__doc__, partitions=True)
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-failover-"))
    results = []
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "")
        if not bootstrap:
            sys.path.insert(0, str(Path(__file__).parents[1]))  # the repository's tests/
            from tests.support.apache_kafka import KafkaCluster

            bootstrap = stack.enter_context(KafkaCluster(1, home=workdir / "kafka")).bootstrap
        for standbys in (1, 0):
            found = asyncio.run(run(bootstrap, workdir, args.people, args.partitions, standbys))
            print(found, flush=True)
            results.append(found)
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.people:,} profiles, {args.partitions} partitions, two workers, "
          "session timeout 6 s, Apache Kafka (one node)\n")  # fmt: skip
    print("| standby replicas | standbys caught up after the fill | kill -9: partitions silent "
          "| rolling restart: longest silence |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: |")
    for found in results:
        print(
            f"| {found['standby_replicas']} | {found['standby_catch_up_s']:.1f} s | "
            f"{found['outage_s']:.1f} s | {found['rolling_longest_silence_s']:.1f} s |"
        )
    save_figures(args.json, {"runs": results})


if __name__ == "__main__":
    main()
