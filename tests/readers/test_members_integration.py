"""``traitflow segments members`` and ``traitflow tail --segment`` on a real worker."""

from __future__ import annotations

import asyncio
from subprocess import Popen

import pytest

from tests.cli.helpers import run_cli
from tests.conftest import TEST_NOW_MS
from tests.support.kafka_helpers import apply_and_wait, identify, membership_events, send_messages
from tests.support.waiting import eventually
from traitflow.config import Settings
from traitflow.segments.definition import segment_from_spec
from traitflow.timeutil import iso_from_ms

pytestmark = pytest.mark.integration

PLANS = {"ada": "trial", "grace": "trial", "linus": "paid", "ken": "trial", "radia": "paid"}


async def test_members_lists_current_members_and_tail_filters(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(
        settings,
        [
            segment_from_spec({"key": key, "condition": {"trait": "plan", "op": "=", "value": key}})
            for key in ("trial", "paid")
        ],
    )
    stamp = iso_from_ms(TEST_NOW_MS - 60_000)
    await send_messages(
        settings, *(identify(p, stamp, f"m-{p}", plan=plan) for p, plan in PLANS.items())
    )
    await membership_events(settings, len(PLANS), timeout=60)
    await send_messages(settings, identify("ken", iso_from_ms(TEST_NOW_MS), "m-ken2", plan="paid"))
    await membership_events(settings, len(PLANS) + 2, timeout=60)

    expected = "trial: 2 members of 5 profiles"
    listed = await eventually(  # the changelog is written just after the events
        lambda: asyncio.to_thread(run_cli, settings, "segments", "members", "trial"),
        lambda found: expected in found.output,
        every=0.5,
    )
    assert listed.exit_code == 0, listed.output
    assert expected in listed.output
    assert {"ada", "grace"} <= set(listed.output.split())
    assert "ken" not in listed.output.split()

    counted = await asyncio.to_thread(run_cli, settings, "segments", "members", "paid", "--count")
    assert "paid: 3 members of 5 profiles" in counted.output
    assert "linus" not in counted.output
    unknown = await asyncio.to_thread(run_cli, settings, "segments", "members", "nope")
    assert unknown.exit_code != 0

    tailed = await asyncio.to_thread(
        run_cli, settings, "tail", "--from-beginning", "--count", "3", "--segment", "paid"
    )
    lines = tailed.output.strip().splitlines()
    assert len(lines) == 3
    assert all(" paid " in line for line in lines)
