"""The batch-delivering transport on a real broker: each fetch reaches the receiver as one
call, in partition order, and what the receiver acknowledged is committed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import BrokerUnderTest, free_port
from tests.support.kafka_helpers import identify, send_messages
from tests.support.waiting import eventually
from tests.support.web_helpers import wait_ready
from traitflow.admin.client import AdminClient, AdminError
from traitflow.broker.clients import publish
from traitflow.broker.delivery import CONSUMER_STOP_S
from traitflow.broker.embedded import EmbeddedBroker
from traitflow.broker.serve import prepare
from traitflow.config import Settings
from traitflow.worker.process import settings_env, start_worker, stop_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def start_receiver(settings: Settings, received: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.broker.batch_receiver"],
            env={**os.environ, **settings_env(settings), "RECEIVED": str(received)},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def deliveries(received: Path, records: int, timeout: float = 90) -> list[list[list[int]]]:
    """The deliveries written so far, once they hold ``records`` records."""

    def seen() -> list[Any]:
        lines = received.read_bytes().splitlines() if received.exists() else []
        return [orjson.loads(line) for line in lines]

    return await eventually(seen, lambda found: sum(map(len, found)) >= records, timeout=timeout)


async def test_fetches_arrive_whole_in_order_and_acknowledged_records_are_committed(
    settings: Settings, tmp_path: Path
) -> None:
    keys = [f"user-{n}".encode() for n in range(40)]
    await publish(settings, settings.topics.events, [(keys[n % 40], b"{}") for n in range(600)])
    received, log = tmp_path / "received.jsonl", tmp_path / "receiver.log"
    receiver = start_receiver(settings, received, log)
    try:
        first = await deliveries(received, 600)
    finally:
        assert stop_process(receiver) == 0, log.read_text()[-3000:]
    records = [record for delivery in first for record in delivery]
    assert len(records) == 600, log.read_text()[-3000:]
    assert max(map(len, first)) > 1  # a fetch, not a record, per call
    for partition in range(settings.partitions):
        offsets = [offset for p, offset in records if p == partition]
        assert offsets == list(range(len(offsets)))  # every record once, in order

    await publish(settings, settings.topics.events, [(key, b"{}") for key in keys[:5]])
    receiver = start_receiver(settings, received, log)
    try:
        again = await deliveries(received, 605)
    finally:
        stop_process(receiver)
    later = [record for delivery in again[len(first) :] for record in delivery]
    assert len(later) == 5, later  # only the new ones: the first 600 were committed


async def test_a_worker_whose_broker_vanished_stops_on_sigterm(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    """The consumer thread's last commit cannot reach a broker that is gone: the worker
    waits for it ``CONSUMER_STOP_S``, then stops cleanly, well before the SIGKILL that
    ``stop_process`` sends after 30 s (mode's own wait was 60 s)."""
    if broker.kind != "embedded":
        pytest.skip("needs a broker of its own to stop: the embedded one")
    port = free_port()
    own = EmbeddedBroker(port)
    own.start()
    settings = broker.settings(tmp_path).model_copy(
        update={"embedded_port": port, "bootstrap_servers": ""}
    )
    log = tmp_path / "worker.log"
    worker = None
    try:
        await prepare(settings)
        worker = start_worker(settings, log)
        await wait_ready(f"http://127.0.0.1:{settings.web_port}")
        await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="x"))
        async with AdminClient(settings) as admin:  # processed: the consumer has offsets
            await eventually(lambda: _has_profile(admin, "ada"), timeout=60)
        own.stop()
        started = time.monotonic()
        assert stop_process(worker, timeout=CONSUMER_STOP_S + 15) == 0, log.read_text()[-3000:]
        assert time.monotonic() - started < CONSUMER_STOP_S + 15
    finally:
        own.stop()
        if worker is not None:
            stop_process(worker, timeout=5)


async def _has_profile(admin: AdminClient, person: str) -> bool:
    try:
        return bool(await admin.profile(person))
    except AdminError:
        return False
