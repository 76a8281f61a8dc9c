"""Backfill from the log (issue 23): a definition applied after the events counts them from
the events topic's history, on the real broker, with one worker or two, and across a
``kill -9`` mid-replay."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete

from tests.cli.helpers import run_cli
from tests.conftest import TEST_NOW_MS, BrokerUnderTest, free_port
from tests.support.kafka_helpers import apply_and_wait, membership_events, send_messages
from tests.support.messages import message
from tests.support.waiting import eventually
from traitflow.broker.clients import publish, reader
from traitflow.broker.connection import kafka_options
from traitflow.catalog.topic import apply_definitions, backfill_status, wait_for_replay
from traitflow.config import Settings
from traitflow.ingest.records import BUNDLE_HEADER, LINES_PER_POSITION
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
KNOWN = segment_from_spec({"key": "known", "condition": {"trait": "plan", "op": "exists"}})
CURIOUS = segment_from_spec(
    {
        "key": "curious",
        "condition": {
            "event": "Pricing",
            "types": ["page"],
            "count": {"exactly": 2},
            "within": {"last": 7, "unit": "days"},
        },
    }
)


def page(message_id: str, days_ago: float, **ids: str) -> dict[str, Any]:
    return message("page", int(TEST_NOW_MS - days_ago * DAY_MS), message_id, name="Pricing", **ids)


def identify(message_id: str, days_ago: float, **ids: str) -> dict[str, Any]:
    at = int(TEST_NOW_MS - days_ago * DAY_MS)
    return message("identify", at, message_id, **ids, traits={"plan": "trial"})


def history() -> list[dict[str, Any]]:
    """ada: two views as an anonymous visitor, then identified (a merge): in. bob: one
    view sent twice (a retry): out. cy: two views 10 days ago, outside the window: out."""
    return [
        page("a1", 3, anonymousId="anon-ada"),
        page("a2", 2, anonymousId="anon-ada"),
        identify("a3", 1, userId="ada", anonymousId="anon-ada"),
        identify("b1", 4, userId="bob"),
        page("b2", 3, userId="bob"),
        page("b2", 3, userId="bob"),
        identify("c1", 11, userId="cy"),
        page("c2", 10, userId="cy"),
        page("c3", 10, userId="cy"),
    ]


def entered(events: list[dict[str, Any]], segment: str) -> dict[str, str]:
    return {
        e["person"]: e["cause"]["kind"]
        for e in events
        if e["segment"] == segment and e["type"] == "audience.entered"
    }


async def test_a_new_segment_counts_its_window_from_history(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(settings, [KNOWN])
    await send_messages(settings, *history())
    await _send_poison(settings)
    await membership_events(settings, 3)  # ada, bob and cy are known: all processed

    applied = await apply_definitions(settings, [CURIOUS])
    assert applied.replay is not None and applied.gaps == ()
    await wait_for_replay(settings, applied.replay.id, timeout_s=60)
    events = await membership_events(settings, 4, settle=1.0)
    assert entered(events, "curious") == {"ada": "backfill"}

    # Live again after the barrier: bob's second view counts once, not twice.
    await send_messages(settings, page("b3", 0.5, userId="bob"))
    events = await membership_events(settings, 5, settle=1.0)
    assert entered(events, "curious") == {"ada": "backfill", "bob": "message"}

    status = await asyncio.to_thread(run_cli, settings, "segments", "status")
    assert status.exit_code == 0, status.output
    assert "complete" in status.output and applied.replay.id in status.output


async def _send_poison(settings: Settings) -> None:
    """Records the worker dead-lettered when they came in: read back, they are skipped."""
    bundled = [(BUNDLE_HEADER, b"1")]
    await send_messages(settings, b"{not json")
    await publish(settings, settings.topics.events, [(b"ada", None)], bundled)
    too_many = b"\n".join([b"{}"] * (LINES_PER_POSITION + 1))
    await publish(settings, settings.topics.events, [(b"bob", too_many)], bundled)


async def test_two_workers_and_a_kill_mid_replay_count_each_message_once(
    settings: Settings, tmp_path: Path
) -> None:
    """Many small chunks, so that the kill lands mid-replay; "exactly 2" would fail on a
    message counted twice (a repeated chunk or item), "entered" would miss one lost."""
    settings = settings.model_copy(update={"replay_chunk_records": 5})
    configs = [
        settings.model_copy(update={"data_dir": tmp_path / name, "web_port": free_port()})
        for name in ("w1", "w2")
    ]
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    first, second = (start_worker(config, log) for config, log in zip(configs, logs, strict=True))
    try:
        await apply_and_wait(settings, [KNOWN])
        people = [f"p{n}" for n in range(40)]
        messages = [identify(f"{p}-id", 6, userId=p) for p in people]
        for n, person in enumerate(people):  # even people: two views; odd: three
            messages += [
                page(f"{person}-v{k}", 5 - k * 0.1, userId=person) for k in range(2 + n % 2)
            ]
        await send_messages(settings, *messages)
        await membership_events(settings, len(people))

        applied = await apply_definitions(settings, [CURIOUS])
        assert applied.replay is not None
        await _until_replay_started(settings, applied.replay.id)
        first.send_signal(signal.SIGKILL)
        first.wait()
        first = start_worker(configs[0], logs[0])
        await wait_for_replay(settings, applied.replay.id, timeout_s=120)
        events = await membership_events(settings, len(people) + len(people) // 2, settle=2.0)
        assert entered(events, "curious") == {p: "backfill" for p in people[::2]}
    finally:
        for process in (first, second):
            stop_process(process)


async def _until_replay_started(settings: Settings, replay: str) -> None:
    async def reading() -> list[dict[str, Any]]:
        return [line for line in await backfill_status(settings) if line.get("id") == replay]

    lines = await eventually(reading, lambda found: any(line["read"] > 0 for line in found),
                             every=0.05)  # fmt: skip
    assert any(line["read"] > 0 for line in lines), "the replay did not start"


async def test_apply_and_status_say_when_the_broker_no_longer_holds_the_window(
    settings: Settings, broker: BrokerUnderTest, tmp_path: Path
) -> None:
    """Runs on a real Kafka (``KAFKA_BOOTSTRAP`` or testcontainers): the embedded Tansu
    does not implement DeleteRecords (it drops the connection), so nothing can age out."""
    if broker.kind == "embedded":
        pytest.skip("the embedded broker cannot delete records (no DeleteRecords in Tansu)")
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        await _history_deleted_then_applied(settings)
    finally:
        assert stop_process(worker) == 0


async def _history_deleted_then_applied(settings: Settings) -> None:
    await apply_and_wait(settings, [KNOWN])
    await send_messages(settings, *history())
    await membership_events(settings, 3)
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        ends = await _end_offsets(settings)
        await admin.delete_records({tp: RecordsToDelete(end) for tp, end in ends.items()})
    finally:
        await admin.close()
    applied = await apply_definitions(settings, [CURIOUS])
    assert applied.replay is not None and applied.gaps
    await wait_for_replay(settings, applied.replay.id, timeout_s=60)
    status = await asyncio.to_thread(run_cli, settings, "segments", "status")
    assert "incomplete" in status.output


async def _end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    async with reader(settings, settings.topics.events) as consumer:
        partitions = list(consumer.assignment())
        return dict(await consumer.end_offsets(partitions))
