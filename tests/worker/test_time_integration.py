"""Time alone moves people in and out: real broker, worker process, a clock the test moves."""

from __future__ import annotations

import asyncio
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest

from tests.cli.helpers import run_cli
from tests.conftest import TEST_NOW_MS, free_port, set_clock
from tests.support.kafka_helpers import (
    apply_and_wait,
    membership_events,
    read_records,
    send_messages,
)
from tests.support.messages import message
from traitflow.config import Settings
from traitflow.segments import computed_from_spec, segment_from_spec
from traitflow.timeutil import iso_from_ms
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

HOUR = 3_600_000
DAY = 24 * HOUR
PRICING_TWICE = segment_from_spec(
    {
        "key": "pricing-twice",
        "condition": {"event": "Pricing", "types": ["page"], "count": {"at_least": 2},
                      "within": {"last": 7, "unit": "days"}},
    }
)  # fmt: skip
BILL_SOON = segment_from_spec(
    {
        "key": "bill-soon",
        "condition": {"trait": "next_bill_date", "op": "within_next", "value": 3, "unit": "days"},
    }
)


def page(user: str, at_ms: int, n: int) -> dict[str, Any]:
    return message("page", at_ms, f"{user}-{n}", userId=user, name="Pricing")


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(e["segment"], e["type"].split(".")[1], e["cause"]["kind"], e["at"]) for e in events]


async def test_windowed_event_condition_enters_then_exits_with_no_new_message(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(settings, [PRICING_TWICE])
    await send_messages(settings, page("ada", TEST_NOW_MS - DAY, 1), page("ada", TEST_NOW_MS, 2))
    await membership_events(settings, 1)
    set_clock(settings, TEST_NOW_MS + 6 * DAY + 1)  # the first visit leaves the window
    events = await membership_events(settings, 2, settle=1.5)
    assert summary(events) == [
        ("pricing-twice", "entered", "message", iso_from_ms(TEST_NOW_MS)),
        ("pricing-twice", "exited", "time", iso_from_ms(TEST_NOW_MS + 6 * DAY)),
    ]
    assert '"event":"Pricing"' in events[1]["cause"]["condition"]


async def test_relative_date_trait_enters_then_exits_as_the_date_comes_and_goes(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(settings, [BILL_SOON])
    bill = TEST_NOW_MS + 10 * DAY
    identify = {"type": "identify", "userId": "bo", "timestamp": iso_from_ms(TEST_NOW_MS),
                "traits": {"next_bill_date": iso_from_ms(bill)}}  # fmt: skip
    await send_messages(settings, identify)
    await _profile_stored(settings)  # processed at TEST_NOW_MS, ten days before the bill
    set_clock(settings, bill - 2 * DAY)
    await membership_events(settings, 1)
    set_clock(settings, bill + HOUR)
    events = await membership_events(settings, 2, settle=1.5)
    assert summary(events) == [
        ("bill-soon", "entered", "time", iso_from_ms(bill - 3 * DAY + 1)),
        ("bill-soon", "exited", "time", iso_from_ms(bill + 1)),
    ]


async def test_first_and_last_times_flip_when_their_span_runs_out(
    settings: Settings, worker: Popen[bytes]
) -> None:
    """New buyers (first order less than 7 days ago) exit 7 days after the first order;
    lapsed buyers (last order more than 30 days ago) enter 30 days after the last one,
    with no message between; an order that arrives late does not move the first time
    ahead."""
    new_buyers = segment_from_spec(
        {
            "key": "new-buyers",
            "condition": {"event": "Order Completed", "first": {"less_than": 7, "unit": "days"}},
        }
    )
    lapsed = segment_from_spec({"key": "lapsed", "condition": {
        "event": "Order Completed", "last": {"more_than": 30, "unit": "days"}}})  # fmt: skip
    await apply_and_wait(settings, [new_buyers, lapsed])

    def order(at_ms: int, n: int) -> dict[str, Any]:
        return message("track", at_ms, f"cy-{n}", userId="cy", event="Order Completed")

    await send_messages(settings, order(TEST_NOW_MS, 1), order(TEST_NOW_MS - 2 * DAY, 2))
    await membership_events(settings, 1)
    set_clock(settings, TEST_NOW_MS + 40 * DAY)
    events = await membership_events(settings, 3, settle=1.5)
    assert sorted(summary(events), key=lambda e: e[3]) == [
        ("new-buyers", "entered", "message", iso_from_ms(TEST_NOW_MS)),
        ("new-buyers", "exited", "time", iso_from_ms(TEST_NOW_MS + 5 * DAY)),  # first: late one
        ("lapsed", "entered", "time", iso_from_ms(TEST_NOW_MS + 30 * DAY)),
    ]


async def test_a_trend_flips_as_visits_age_from_one_window_into_the_other(
    settings: Settings, worker: Popen[bytes]
) -> None:
    """Visits in the last day against visits from two to one days ago: two visits now
    make the person "falling" a day later, when both visits have aged into the earlier
    window, and not falling two days later, when they leave it; no message in between."""
    definitions = [
        computed_from_spec({"key": "visits_1d", "event": "$visit", "aggregate": "count",
                            "within": {"last": 1, "unit": "days"}}),
        computed_from_spec({"key": "visits_before", "event": "$visit", "aggregate": "count",
                            "within": {"from_ago": 2, "to_ago": 1, "unit": "days"}}),
        segment_from_spec({"key": "falling", "condition": {"and": [
            {"computed": "visits_before", "op": ">=", "value": 2},
            {"computed": "visits_1d", "op": "<", "other": "visits_before", "factor": 0.5}]}}),
    ]  # fmt: skip
    await apply_and_wait(settings, definitions)
    await send_messages(settings, page("di", TEST_NOW_MS - HOUR, 1), page("di", TEST_NOW_MS, 2))
    await _profile_stored(settings)
    set_clock(settings, TEST_NOW_MS + 4 * DAY)
    events = await membership_events(settings, 2, settle=1.5)
    width = 2 * DAY // 48  # the offset window's buckets: its edges move an hour at a time
    assert TEST_NOW_MS % width == 0
    assert summary(events) == [
        ("falling", "entered", "time", iso_from_ms(TEST_NOW_MS + DAY)),
        ("falling", "exited", "time", iso_from_ms(TEST_NOW_MS - HOUR + 2 * DAY)),
    ]


async def test_a_sequence_not_followed_in_time_exits_at_its_deadline(
    settings: Settings, worker: Popen[bytes]
) -> None:
    """Pricing, then checkout within an hour, then no order within a day: ed orders and
    exits with that message; fay does not, and exits when her day runs out."""
    abandoned = segment_from_spec({"key": "abandoned", "condition": {"sequence": {
        "steps": [{"event": "Pricing", "types": ["page"]},
                  {"event": "Checkout Started", "within": {"last": 1, "unit": "hours"}}],
        "not_followed_by": {"event": "Order Completed", "within": {"last": 1, "unit": "days"}},
    }}})  # fmt: skip
    await apply_and_wait(settings, [abandoned])
    checkout = TEST_NOW_MS - HOUR
    steps = []
    for user in ("ed", "fay"):
        started = message("track", checkout, f"{user}-2", userId=user, event="Checkout Started")
        steps += [page(user, checkout - 30 * 60_000, 1), started]
    order = message("track", TEST_NOW_MS, "ed-3", userId="ed", event="Order Completed")
    await send_messages(settings, *steps, order)
    await membership_events(settings, 3)
    explained = await asyncio.to_thread(
        run_cli, settings, "segments", "explain", "abandoned", "fay"
    )
    assert f"in until {iso_from_ms(checkout + DAY)}" in explained.output, explained.output
    set_clock(settings, TEST_NOW_MS + 2 * DAY)
    events = await membership_events(settings, 4, settle=1.5)
    assert sorted((e["person"], *summary([e])[0]) for e in events) == [
        ("ed", "abandoned", "entered", "message", iso_from_ms(checkout)),
        ("ed", "abandoned", "exited", "message", iso_from_ms(TEST_NOW_MS)),
        ("fay", "abandoned", "entered", "message", iso_from_ms(checkout)),
        ("fay", "abandoned", "exited", "time", iso_from_ms(checkout + DAY)),
    ]


async def test_after_downtime_overdue_instants_are_processed_once_in_order(
    settings: Settings, worker_log: Path
) -> None:
    await apply_and_wait(settings, [BILL_SOON])
    bill = TEST_NOW_MS + 10 * DAY
    identify = {"type": "identify", "userId": "cy", "timestamp": iso_from_ms(TEST_NOW_MS),
                "traits": {"next_bill_date": iso_from_ms(bill)}}  # fmt: skip
    first = start_worker(settings, worker_log)
    try:
        await send_messages(settings, identify)
        await _profile_stored(settings)
    finally:
        assert stop_process(first) == 0, worker_log.read_text()[-3000:]

    set_clock(settings, bill + DAY)  # both boundaries pass while no worker runs
    fresh = settings.model_copy(update={"data_dir": settings.data_dir.parent / "elsewhere"})
    second: Popen[bytes] = start_worker(fresh, worker_log)  # state only from the changelogs
    try:
        events = await membership_events(settings, 2, settle=2.0)
    finally:
        assert stop_process(second) == 0, worker_log.read_text()[-3000:]
    assert summary(events) == [
        ("bill-soon", "entered", "time", iso_from_ms(bill - 3 * DAY + 1)),
        ("bill-soon", "exited", "time", iso_from_ms(bill + 1)),
    ]


async def _profile_stored(settings: Settings) -> None:
    """Wait for the worker to schedule the profile's next due instant."""
    await read_records(settings, f"{settings.app_id}-schedule-changelog", 1)


async def test_due_instants_move_with_their_partition_on_a_rebalance(
    settings: Settings, tmp_path: Path
) -> None:
    await apply_and_wait(settings, [BILL_SOON])
    bill = TEST_NOW_MS + 10 * DAY
    people = [f"r{i}" for i in range(6)]  # spread over both partitions
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = start_worker(settings, log_a)
    b_settings = settings.model_copy(
        update={"data_dir": settings.data_dir.parent / "b", "web_port": free_port()}
    )
    b = start_worker(b_settings, log_b)
    try:
        await send_messages(
            settings,
            *({"type": "identify", "userId": p, "timestamp": iso_from_ms(TEST_NOW_MS),
               "traits": {"next_bill_date": iso_from_ms(bill)}} for p in people),
        )  # fmt: skip
        await read_records(settings, f"{settings.app_id}-schedule-changelog", len(people))
        assert stop_process(a) == 0, log_a.read_text()[-3000:]  # b takes over a's partitions
        set_clock(settings, bill + DAY)
        events = await membership_events(settings, 2 * len(people), timeout=90, settle=2.0)
    finally:
        stop_process(a)
        assert stop_process(b) == 0, log_b.read_text()[-3000:]
    assert sorted((e["person"], e["type"], e["cause"]["kind"]) for e in events) == sorted(
        (p, kind, "time") for p in people for kind in ("audience.entered", "audience.exited")
    )
