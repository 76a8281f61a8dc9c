"""Bundled records on the real broker: every line of a record counts, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.kafka_helpers import membership_events, read_records, replayed
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.ingest.publisher import publish_messages
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

THREE_OPENS = {"event": "Opened", "count": {"at_least": 3}}
OPENED = segment_from_spec(
    {"key": "opener", "condition": {"event": "Opened", "count": {"at_least": 1}}}
)
MONTHLY_FANS = {**THREE_OPENS, "within": {"last": 30, "unit": "days"}}


def opened(user: str, minute: int) -> tuple[bytes, bytes]:
    body: dict[str, Any] = {"type": "track", "userId": user, "event": "Opened",
                            "messageId": f"{user}-{minute}",
                            "timestamp": f"2026-11-23T08:{minute:02d}:00Z"}  # fmt: skip
    return user.encode(), orjson.dumps(body)


async def test_bundled_messages_each_count_once(settings: Settings, tmp_path: Path) -> None:
    applied = await apply_definitions(
        settings, [segment_from_spec({"key": "fans", "condition": THREE_OPENS})]
    )
    people = [f"user-{n}" for n in range(12)]
    keyed = [opened(user, minute) for minute in range(3) for user in people]
    sent = await publish_messages(settings, settings.topics.events, [*keyed, (b"x", b"{oops")])
    assert sent <= settings.partitions  # a record per partition, not per message
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await replayed(settings, applied)
        events = await membership_events(settings, len(people), settle=2.0)
        assert sorted(e["person"] for e in events) == sorted(people)  # each once, at 3
        assert {e["type"] for e in events} == {"audience.entered"}
        [refused] = await read_records(settings, settings.topics.deadletter, 1)
        assert refused.value == b"{oops"
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]


async def test_bundled_history_counts_once_in_a_replay(settings: Settings, tmp_path: Path) -> None:
    """The same bundles, read back when a definition counting them is applied later."""
    people = [f"user-{n}" for n in range(12)]
    await publish_messages(
        settings, settings.topics.events, [opened(u, m) for m in range(3) for u in people]
    )
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await replayed(settings, await apply_definitions(settings, [OPENED]))
        await membership_events(settings, len(people))  # every bundle line is processed
        applied = await apply_definitions(
            settings, [segment_from_spec({"key": "fans", "condition": MONTHLY_FANS})]
        )
        assert applied.replay is not None
        await replayed(settings, applied)
        events = await membership_events(settings, 2 * len(people), settle=2.0)
        fans = [e for e in events if e["segment"] == "fans"]
        assert sorted(e["person"] for e in fans) == sorted(people)  # each once, at 3
        assert {e["cause"]["kind"] for e in fans} == {"backfill"}
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
