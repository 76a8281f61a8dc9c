"""A definition applied while a worker runs reaches stored profiles with no new message."""

from __future__ import annotations

import asyncio
from subprocess import Popen

import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import identify, membership_events, send_messages
from tests.support.waiting import eventually
from tests.support.web_helpers import wait_for_line
from traitflow.catalog.topic import apply_definitions, backfill_status
from traitflow.config import Settings
from traitflow.segments import segment_from_spec

pytestmark = pytest.mark.integration

ANY_PLAN = segment_from_spec({"key": "known", "condition": {"trait": "plan", "op": "exists"}})
ANNUAL = segment_from_spec(
    {"key": "annual", "condition": {"trait": "plan", "op": "=", "value": "annual"}}
)


async def test_new_segment_is_backfilled_and_status_reports_done(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_definitions(settings, [ANY_PLAN])
    people = {f"p{i}": ("annual" if i % 2 else "monthly") for i in range(10)}
    await send_messages(
        settings,
        *(identify(p, "2026-11-23T08:00:00Z", f"m-{p}", plan=plan) for p, plan in people.items()),
    )
    await membership_events(settings, len(people))  # every profile is stored

    version = (await apply_definitions(settings, [ANNUAL])).version
    events = await membership_events(settings, len(people) + 5, settle=1.0)
    backfilled = [e for e in events if e["segment"] == "annual"]
    assert sorted(e["person"] for e in backfilled) == sorted(
        p for p, plan in people.items() if plan == "annual"
    )
    assert {e["cause"]["kind"] for e in backfilled} == {"backfill"}

    progress = await eventually(
        lambda: backfill_status(settings),
        lambda found: (
            len(found) == settings.partitions
            and all(p["version"] == version and p["finished"] for p in found)
        ),
    )
    assert sum(p["profiles"] for p in progress if p["version"] == version) == len(people)
    shown = await asyncio.to_thread(run_cli, settings, "segments", "status")
    assert shown.output.count("done") == settings.partitions, shown.output

    # Metrics: each stored profile counted once (the first backfill found none), none running.
    metrics = f"http://127.0.0.1:{settings.web_port}/metrics"
    text = await wait_for_line(metrics, f"traitflow_backfill_profiles_total {len(people)}.0")
    for partition in range(settings.partitions):
        assert f'traitflow_backfill_running{{partition="{partition}"}} 0.0' in text
    entered = 'traitflow_membership_transitions_total{direction="entered",segment="annual"} 5.0'
    assert entered in text
