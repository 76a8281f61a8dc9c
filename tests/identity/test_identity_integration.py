"""Identity resolution on a real broker, two partitions: an anonymous visitor signs up.

``anon-1`` hashes to partition 0 and ``ada`` to partition 1, so the merge crosses
partitions: link, ship, absorb all travel through the events topic.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import membership_events, read_records, replayed, send_messages
from tests.support.messages import message as spec
from tests.support.web_helpers import wait_for_line
from traitflow.broker.partitioner import partition_of
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

TWICE = {"at_least": 2}
SEGMENTS = [
    segment_from_spec(spec)
    for spec in (
        {
            "key": "pricing-twice",
            "condition": {"event": "Pricing Viewed", "count": {"at_least": 2}},
        },
        {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}},
        {"key": "pricing-4", "condition": {"event": "Pricing Viewed", "count": {"at_least": 4}}},
    )
]


def message(kind: str, n: int, **fields: Any) -> dict[str, Any]:
    return spec(kind, f"2026-11-23T08:0{n}:00Z", f"m{n}", **fields)


def opened(n: int, device: str) -> dict[str, Any]:
    return message("track", n, userId="grace", anonymousId=device, event="Open")


def viewed(n: int, **ids: str) -> dict[str, Any]:
    return message("track", n, event="Pricing Viewed", **ids)


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((e["type"], e["person"], e["segment"]) for e in events)


async def test_anonymous_history_merges_into_the_signed_up_person(
    settings: Settings, tmp_path: Path
) -> None:
    assert partition_of(b"anon-1", 2) != partition_of(b"ada", 2)
    applied = await apply_definitions(settings, SEGMENTS)
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await replayed(settings, applied)
        await send_messages(
            settings, viewed(1, anonymousId="anon-1"), viewed(2, anonymousId="anon-1")
        )
        [entered] = await membership_events(settings, 1)
        assert (entered["person"], entered["segment"]) == ("anon-1", "pricing-twice")

        signup = message("identify", 3, userId="ada", anonymousId="anon-1",
                         traits={"plan": "trial", "email": "ada@example.com"})  # fmt: skip
        await send_messages(settings, signup, viewed(4, anonymousId="anon-1"))
        events = await membership_events(settings, 3, settle=3.0)
        assert summary(events) == [
            ("audience.entered", "ada", "trial"),
            ("audience.entered", "anon-1", "pricing-twice"),
            ("audience.merged", "anon-1", "pricing-twice"),
        ]
        [merged] = [e for e in events if e["type"] == "audience.merged"]
        assert merged["merged_into"]["person"] == "ada"
        assert merged["cause"]["kind"] == "merge"
        assert merged["cause"]["merged"] == {"into": "ada", "from": "anon-1"}

        shown = await asyncio.to_thread(run_cli, settings, "profile", "anon-1", "--json")
        assert shown.exit_code == 0, shown.output
        profile = orjson.loads(shown.output)
        assert (profile["person"], profile["requested"]) == ("ada", "anon-1")
        assert set(profile["identities"]) >= {"anon-1", "email:ada@example.com"}
        assert profile["traits"]["plan"] == "trial"
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]

    # The links survive a restart: a late anonymous event still reaches ada.
    worker = start_worker(settings, log)
    try:
        await send_messages(settings, viewed(5, anonymousId="anon-1"))
        events = await membership_events(settings, 4, settle=2.0)
        [fourth] = [e for e in events if e["segment"] == "pricing-4"]
        assert (fourth["type"], fourth["person"]) == ("audience.entered", "ada")
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]


async def test_junk_ids_never_link_and_the_cap_refuses_a_merge(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"identity_max_ids": 3})
    applied = await apply_definitions(settings, SEGMENTS[1:2])
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await replayed(settings, applied)
        await send_messages(
            settings,
            message("identify", 1, userId="null", anonymousId="anon-2", traits={"plan": "trial"}),
            message("identify", 2, userId="grace", traits={"plan": "trial"}),
            *(
                message("track", 3 + i, userId="grace", anonymousId=f"device-{i}", event="Open")
                for i in range(3)
            ),
        )
        events = await membership_events(settings, 2, settle=2.0)
        assert summary(events) == [
            ("audience.entered", "anon-2", "trial"),  # not "null"
            ("audience.entered", "grace", "trial"),
        ]
        [refused] = await read_records(settings, settings.topics.deadletter, 1, settle=1.0)
        reason = dict(refused.headers)["traitflow-reason"].decode()
        assert reason.startswith("identifier cap") and "grace" not in reason  # no ids
        assert orjson.loads(refused.value)["anonymousId"] == "device-2"  # original bytes
        metrics = f"http://127.0.0.1:{settings.web_port}/metrics"
        text = await wait_for_line(metrics, "traitflow_identity_refusals_total 1.0")
        assert 'traitflow_dead_letters_total{reason="identifier_cap"} 1.0' in text
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
