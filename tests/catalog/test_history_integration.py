"""Definition history and deleted segments on a real broker: every revision is kept, events
name the revision that decided them, and deleting a segment makes its members exit."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import identify, membership_events, send_messages
from traitflow.catalog.topic import apply_definitions, delete_segment
from traitflow.config import Settings
from traitflow.segments import segment_from_spec

pytestmark = pytest.mark.integration

FIRST = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)
SECOND = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "in", "value": ["trial", "beta"]}}
)


async def test_revisions_are_kept_named_by_events_and_deletion_exits_members(
    settings: Settings, worker: object
) -> None:
    await apply_definitions(settings, [FIRST])
    await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    [entered] = await membership_events(settings, 1)
    assert entered["revision"] == FIRST.rev

    await apply_definitions(settings, [SECOND])
    await delete_segment(settings, "trial")
    events = await membership_events(settings, 2, settle=1.0)
    exited = events[-1]
    assert (exited["type"], exited["person"], exited["cause"]["kind"]) == (
        "audience.exited",
        "ada",
        "segment_deleted",
    )
    assert "revision" not in exited

    shown = await asyncio.to_thread(run_cli, settings, "segments", "history", "trial", "--json")
    assert shown.exit_code == 0, shown.output
    changes = [orjson.loads(line) for line in shown.output.splitlines()]
    assert [(c["action"], c["revision"]) for c in changes] == [
        ("applied", FIRST.rev),
        ("applied", SECOND.rev),
        ("deleted", None),
    ]
    assert changes[1]["spec"] == SECOND.spec
    assert changes[0]["version"] < changes[1]["version"] < changes[2]["version"]
    table = await asyncio.to_thread(run_cli, settings, "segments", "history", "trial")
    assert "deleted" in table.output and SECOND.rev in table.output
