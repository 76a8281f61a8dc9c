"""Each group of language features, end to end: worker process, real broker, CLI."""

from __future__ import annotations

import asyncio
from subprocess import Popen
from typing import Any

import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import apply_and_wait, membership_events, send_messages
from tests.support.messages import message as spec
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.exceptions import InvalidDefinition
from traitflow.segments import computed_from_spec, segment_from_spec

pytestmark = pytest.mark.integration


def message(kind: str, user: str, hour: int, **fields: Any) -> dict[str, Any]:
    return spec(kind, f"2026-11-23T{hour:02d}:00:00Z", f"{user}-{hour}", userId=user, **fields)


def flips(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return sorted(
        (e["person"], e["segment"], e["type"].split(".")[1], e["cause"]["message_id"])
        for e in events
    )


async def test_events_windows_computed_traits_not_and_references(
    settings: Settings, worker: Popen[bytes]
) -> None:
    definitions = [
        computed_from_spec(
            {"key": "spend", "event": "Order Completed", "aggregate": "sum", "property": "total"}
        ),
        segment_from_spec(
            {"key": "paid", "condition": {"trait": "plan", "op": "=", "value": "pro"}}
        ),
        segment_from_spec(
            {
                "key": "curious",
                "condition": {
                    "and": [
                        {
                            "event": "Pricing",
                            "types": ["page"],
                            "count": {"at_least": 2},
                            "within": {"last": 7, "unit": "days"},
                        },
                        {"not": {"segment": "paid"}},
                    ]
                },
            }
        ),
        segment_from_spec(
            {"key": "big", "condition": {"computed": "spend", "op": ">=", "value": 100}}
        ),
    ]
    await apply_and_wait(settings, definitions)
    await send_messages(
        settings,
        message("page", "ada", 8, name="Pricing"),
        message("page", "ada", 9, name="Pricing"),
        message("track", "ada", 10, event="Order Completed", properties={"total": 60}),
        message("track", "ada", 11, event="Order Completed", properties={"total": 50}),
        message("identify", "ada", 12, traits={"plan": "pro"}),
    )
    events = await membership_events(settings, 4, settle=1.0)
    assert flips(events) == [
        ("ada", "big", "entered", "ada-11"),
        ("ada", "curious", "entered", "ada-9"),
        ("ada", "curious", "exited", "ada-12"),
        ("ada", "paid", "entered", "ada-12"),
    ]

    explained = await asyncio.to_thread(run_cli, settings, "segments", "explain", "curious", "ada")
    assert "ada is not a member of curious" in explained.output
    assert "counted 2 times; wanted at_least 2" in explained.output
    profile = await asyncio.to_thread(run_cli, settings, "profile", "ada", "--json")
    assert '"plan": "pro"' in profile.output
    assert '"spend": 110' in profile.output


async def test_trait_operators_dates_and_built_ins(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(
        settings,
        [
            segment_from_spec(
                {
                    "key": "renewing-fr",
                    "condition": {
                        "and": [
                            {"trait": "renews_at", "op": "within_next", "value": 3, "unit": "days"},
                            {"trait": "$country", "op": "=", "value": "FR"},
                            {"trait": "tags", "op": "includes_any", "value": ["vip"]},
                        ]
                    },
                }
            ),
            segment_from_spec({"key": "from-crm", "condition": {"import": "crm-2026-11"}}),
        ],
    )
    context = {"location": {"country": "FR"}}
    await send_messages(
        settings,
        message("identify", "bo", 8, traits={"renews_at": "2026-11-25T00:00:00Z", "tags": ["vip"]}),
        message("track", "bo", 9, event="Login", context=context),
        message("identify", "cy", 9, traits={}, context={"traitflow": {"import": "crm-2026-11"}}),
    )
    events = await membership_events(settings, 2, settle=1.0)
    assert flips(events) == [
        ("bo", "renewing-fr", "entered", "bo-9"),
        ("cy", "from-crm", "entered", "cy-9"),
    ]


async def test_apply_refuses_cycles_and_unknown_references(settings: Settings) -> None:
    a = segment_from_spec({"key": "a", "condition": {"trait": "x", "op": "exists"}})
    await apply_and_wait(settings, [a])
    b = segment_from_spec({"key": "b", "condition": {"segment": "a"}})
    a_again = segment_from_spec({"key": "a", "condition": {"segment": "b"}})
    with pytest.raises(InvalidDefinition, match="cycle: a -> b -> a"):
        await apply_definitions(settings, [b, a_again])
    ghost = segment_from_spec({"key": "g", "condition": {"computed": "nope", "op": "exists"}})
    with pytest.raises(InvalidDefinition, match="unknown computed 'nope'"):
        await apply_definitions(settings, [ghost])


async def test_visits_and_active_minutes_from_sessions(
    settings: Settings, worker: Popen[bytes]
) -> None:
    definitions = [
        computed_from_spec({"key": "visits_1d", "event": "$activity", "aggregate": "visits",
                            "within": {"last": 1, "unit": "days"}}),
        computed_from_spec({"key": "minutes_1d", "event": "$activity", "aggregate": "minutes",
                            "within": {"last": 1, "unit": "days"}}),
        segment_from_spec({"key": "engaged", "condition": {"computed": "minutes_1d", "op": ">=",
                                                           "value": 15}}),
    ]  # fmt: skip

    def at(kind: str, stamp: str, n: int, **fields: Any) -> dict[str, Any]:
        return spec(kind, f"2026-11-23T{stamp}:00Z", f"ed-{n}", userId="ed", **fields)

    await apply_and_wait(settings, definitions)
    await send_messages(
        settings,
        at("page", "08:00", 1, name="Home"),
        at("track", "08:20", 2, event="Clicked"),  # the same session: 20 minutes
        at("screen", "10:00", 3, name="Settings"),  # a new one: 0 minutes
        at("identify", "10:05", 4, traits={"plan": "pro"}),  # not activity
    )
    events = await membership_events(settings, 1, settle=1.0)
    assert flips(events) == [("ed", "engaged", "entered", "ed-2")]
    profile = await asyncio.to_thread(run_cli, settings, "profile", "ed", "--json")
    assert '"minutes_1d": 20' in profile.output and '"visits_1d": 2' in profile.output
