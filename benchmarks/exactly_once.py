"""Faust's exactly-once guarantee, tried on Apache Kafka: its cost, and whether it holds.

For each guarantee, at-least-once (traitflow's) and Faust's
``processing_guarantee="exactly_once"`` (Kafka transactions, one producer per source
partition, input offsets committed in them):

1. throughput: one worker over a filled topic of the standard workload (``--events``);
2. kill -9: the traffic of ``tests/support/transitions.py`` (every membership transition known in
   advance from the reference evaluator) on a fresh topic; the worker is killed with
   SIGKILL once a third of the expected events are out, then started again until every
   expected event is read. Events are read with ``isolation_level="read_committed"``, as
   an exactly-once consumer must; the repeats (an event id read twice) are counted, and
   every event is checked against the reference.

Needs Apache Kafka (transactions): ``KAFKA_BOOTSTRAP``, else one node started with
``tests/support/apache_kafka`` (Java and Maven).
Usage: python benchmarks/exactly_once.py [--events N] [--people N] [--json PATH]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import workload
from aiokafka import AIOKafkaConsumer, TopicPartition
from common import broker_for_run, faust_process, faust_run, fill, free_port, script_arguments

sys.path.insert(0, str(Path(__file__).parents[1]))  # the repository's tests/
from tests.conftest import TEST_NOW_MS
from tests.support.kafka_helpers import replayed
from tests.support.transitions import DEFINITIONS, checked, expected_events, traffic

from traitflow.broker.connection import kafka_options
from traitflow.broker.serve import prepare
from traitflow.broker.topics import topic_partitions
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec

GUARANTEES = {"at_least_once": "traitflow", "exactly_once": "traitflow-exactly-once"}


class Committed:
    """The membership topic's events, read committed, as they arrive."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.events: list[dict[str, Any]] = []

    async def follow(self) -> None:
        consumer = AIOKafkaConsumer(**kafka_options(self.settings), enable_auto_commit=False,
                                    isolation_level="read_committed")  # fmt: skip
        topic = self.settings.topics.membership
        partitions = await topic_partitions(self.settings, topic)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            while True:
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    self.events.extend(orjson.loads(record.value) for record in records)
        finally:
            await consumer.stop()


async def killed_once(settings: Settings, mode: str, workdir: Path, people: int,
                      per_person: int) -> dict[str, Any]:  # fmt: skip
    """Repeats after one kill -9 a third of the way through, with ``mode``'s guarantee."""
    messages = traffic(people=people, per_person=per_person)
    expected = expected_events(messages)
    assert settings.clock_file is not None  # the traffic's "now", as in the tests
    settings.clock_file.write_text(str(TEST_NOW_MS))
    applied = await apply_definitions(settings, [segment_from_spec(spec) for spec in DEFINITIONS])
    committed = Committed(settings)
    follower = asyncio.create_task(committed.follow())
    try:
        with faust_process(mode, settings, 10**12, workdir, "-first") as (first, _):
            await replayed(settings, applied)  # then the traffic, as in the kill -9 tests
            await fill(settings, messages)
            deadline = time.monotonic() + 600
            while len(committed.events) < len(expected) // 3:
                if first.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the first worker ({mode}) stopped or stalled")
                await asyncio.sleep(0.01)
            first.kill()
            first.wait()
            at_kill = len(committed.events)
        with faust_process(mode, settings, 10**12, workdir, "-second") as (second, _):
            deadline = time.monotonic() + 900
            while len({event["id"] for event in committed.events}) < len(expected):
                if second.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the restarted worker ({mode}) stopped or stalled")
                await asyncio.sleep(0.1)
            await asyncio.sleep(5)  # any repeat still on its way
        repeats = checked(committed.events, expected)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    return {"messages": len(messages), "events": len(expected), "read_at_kill": at_kill,
            "repeats": repeats}  # fmt: skip


def main() -> None:
    parser = script_arguments(__doc__, partitions=True)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--people", type=int, default=workload.PEOPLE)
    parser.add_argument("--kill-people", type=int, default=200,
                        help="people in the kill -9 traffic (100 messages each)")  # fmt: skip
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-eos-"))
    messages = workload.messages(args.events, args.people)
    figures: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        if not os.environ.get("KAFKA_BOOTSTRAP"):
            from tests.support.apache_kafka import KafkaCluster

            cluster = stack.enter_context(KafkaCluster(1, home=workdir / "kafka"))
            os.environ["KAFKA_BOOTSTRAP"] = cluster.bootstrap
        settings_for = stack.enter_context(broker_for_run())
        for guarantee, mode in GUARANTEES.items():
            settings = settings_for(workdir / guarantee, args.partitions)
            asyncio.run(apply_definitions(settings, workload.definitions()))
            asyncio.run(fill(settings, messages, bundled=True))
            rate = faust_run(mode, settings, args.events, workdir)
            crash = settings_for(workdir / f"{guarantee}-kill", args.partitions).model_copy(
                update={"clock_file": workdir / f"{guarantee}-clock", "web_port": free_port()}
            )
            asyncio.run(prepare(crash))
            found = asyncio.run(
                killed_once(crash, mode, workdir, people=args.kill_people, per_person=100)
            )
            figures[guarantee] = {"events_per_s": rate, **found}
            print(guarantee, figures[guarantee], flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    base = figures["at_least_once"]["events_per_s"]
    print(f"\n{args.events:,} messages (bundled), {args.partitions} partitions, one worker, "
          "Apache Kafka (one node)\n")  # fmt: skip
    print("| guarantee | events/s | vs at-least-once | membership events repeated after kill -9 |")
    print("| --- | ---: | ---: | ---: |")
    for guarantee, found in figures.items():
        print(f"| {guarantee} | {found['events_per_s']:,.0f} | "
              f"{found['events_per_s'] / base:.2f} | "
              f"{found['repeats']} of {found['events']} |")  # fmt: skip
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(figures))


if __name__ == "__main__":
    main()
