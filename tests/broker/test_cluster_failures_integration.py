"""Brokers fail, nothing accepted is lost: a three-node Apache Kafka cluster (replication
factor 3, ``min.insync.replicas`` 2) under a worker's traffic, while its brokers are
killed and restarted. Afterwards every transition the reference evaluator derives from the
input is on the membership topic, none other is, and repeats are identical to their
originals (docs/membership.md)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.conftest import cluster_settings, free_port
from tests.support.apache_kafka import KafkaCluster
from tests.support.kafka_helpers import Group, replayed, send_messages
from tests.support.transitions import (
    DEFINITIONS,
    checked,
    every_event,
    expected_events,
    following,
    traffic,
)
from tests.support.waiting import eventually
from traitflow.broker.connection import kafka_options
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = [pytest.mark.integration, pytest.mark.own_cluster]

CHUNKS = 4


@dataclass
class Run:
    """What a failure may act on: the cluster, the workers (replace one to restart it)."""

    cluster: KafkaCluster
    settings: Settings
    tmp_path: Path
    workers: list[Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start_worker(self, name: str) -> Popen[bytes]:
        own = self.settings.model_copy(
            update={"data_dir": self.tmp_path / name, "web_port": free_port()}
        )
        log = self.tmp_path / f"worker-{name}.log"
        self.logs.append(log)
        self.workers.append(start_worker(own, log))
        return self.workers[-1]


Failure = Callable[[Run, int], Awaitable[None]]


async def leader_of(settings: Settings, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    [found] = [p for p in described["partitions"] if p["partition"] == partition]
    return int(found["leader"])


async def under_traffic(
    cluster: KafkaCluster, tmp_path: Path, fail: Failure, workers: int = 1
) -> int:
    """Send the traffic in chunks, calling ``fail`` once each chunk is being processed;
    check every transition; how many repeats."""
    settings = await cluster_settings(cluster, tmp_path)
    messages = traffic(seed=23)
    expected = expected_events(messages)
    caused_by = {message["messageId"]: n for n, message in enumerate(messages)}
    applied = await apply_definitions(settings, [segment_from_spec(spec) for spec in DEFINITIONS])
    run = Run(cluster, settings, tmp_path)
    for n in range(workers):
        run.start_worker(f"w{n}")
    size = len(messages) // CHUNKS
    try:
        await replayed(settings, applied)
        async with Group(settings) as group, following(settings) as topic:
            await group.settled(workers)
            for chunk in range(CHUNKS):
                before = len(topic.events)
                await send_messages(settings, *messages[chunk * size : (chunk + 1) * size])
                await topic.until(lambda t, n=before: len(t.events) > n, "processing", 120)
                await fail(run, chunk)
                due = {i for i, t in expected.items() if caused_by[t[4]] < (chunk + 1) * size}
                await topic.until(lambda t, d=due: d <= t.ids, f"chunk {chunk} transitions", 180)
            events = await every_event(settings, group)
        for process, log in zip(run.workers, run.logs, strict=True):
            if process.returncode is None:  # not one the test killed
                assert process.poll() is None, f"a worker stopped:\n{log.read_text()[-3000:]}"
    finally:
        for process in run.workers:
            stop_process(process)
    return checked(events, expected)


async def test_kill_9_of_the_busy_partition_s_leader(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    killed: list[int] = []

    async def kill_the_leader(run: Run, chunk: int) -> None:
        if chunk == 1:
            leader = await leader_of(run.settings, run.settings.topics.events, 0)
            run.cluster.node(leader).kill()
            killed.append(leader)
        if chunk == 2:  # back, as an operator would bring it
            await asyncio.to_thread(run.cluster.start_node, run.cluster.node(killed[0]))

    repeats = await under_traffic(kafka_cluster, tmp_path, kill_the_leader)
    print(f"leader {killed[0]} killed: {repeats} repeats")


async def test_one_broker_restarted_then_the_whole_cluster(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    async def restart(run: Run, chunk: int) -> None:
        if chunk == 1:
            await asyncio.to_thread(run.cluster.restart, [run.cluster.nodes[1]])
        if chunk == 2:
            await asyncio.to_thread(run.cluster.restart)

    repeats = await under_traffic(kafka_cluster, tmp_path, restart)
    print(f"one broker, then all, restarted: {repeats} repeats")


async def test_kill_9_of_a_worker_during_a_rebalance(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    """A third worker joins; while the group rebalances, one of the first two is killed
    (and started again, as its supervisor would)."""

    async def kill_while_rebalancing(run: Run, chunk: int) -> None:
        if chunk != 1:
            return
        run.start_worker("third")
        async with Group(run.settings) as group:
            state = await eventually(lambda: _state(group), lambda s: s != "Stable", every=0.02)
            assert state != "Stable", "the group never started rebalancing"
            victim = run.workers[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        run.start_worker("w0-again")

    repeats = await under_traffic(kafka_cluster, tmp_path, kill_while_rebalancing, workers=2)
    print(f"a worker killed mid-rebalance: {repeats} repeats")


async def _state(group: Group) -> str:
    state, _ = await group.members()
    return state
