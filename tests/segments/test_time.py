"""Time-driven flips: due instants, processed in order, each transition once."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support.messages import parsed
from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import Message, parse_message
from traitflow.segments import Registry, segment_from_spec
from traitflow.segments.engine import advance
from traitflow.segments.pipeline import process
from traitflow.timeutil import iso_from_ms

BASE = 1_795_420_800_000
HOUR = 3_600_000
DAY = 24 * HOUR

TWICE_IN_A_DAY = segment_from_spec(
    {
        "key": "busy",
        "condition": {"event": "Visit", "count": {"at_least": 2}, "within": {"last": 1}},
    }
)
BILL_SOON = segment_from_spec(
    {"key": "bill-soon", "condition": {"trait": "next_bill", "op": "within_next", "value": 3}}
)


def message(at_ms: int, **body: Any) -> Message:
    return parsed(None, at_ms, userId="u1", **body)


def test_a_sliding_window_exits_when_its_oldest_counted_event_leaves() -> None:
    registry = Registry([TWICE_IN_A_DAY])
    first = process(None, message(BASE, type="track", event="Visit"), registry, "x", BASE)
    second = process(
        first.profile, message(BASE + HOUR, type="track", event="Visit"), registry, "x", BASE + HOUR
    )
    assert [e["type"] for e in second.events] == ["audience.entered"]
    profile = second.profile
    assert profile.next_due_ms() == BASE + DAY  # the first visit leaves the window then
    assert advance(profile, registry, BASE + DAY - 1) == []
    [(transition, condition)] = advance(profile, registry, BASE + DAY)
    assert (transition.entered, transition.at_ms) == (False, BASE + DAY)
    assert '"event":"Visit"' in condition
    assert profile.next_due_ms() is None  # the second visit alone cannot flip it back


def test_overdue_instants_are_processed_at_once_in_order_each_once() -> None:
    registry = Registry([BILL_SOON])
    bill = iso_from_ms(BASE + 10 * DAY)
    outcome = process(
        None, message(BASE, type="identify", traits={"next_bill": bill}), registry, "x", BASE
    )
    assert outcome.events == []
    profile = outcome.profile
    flips = advance(profile, registry, BASE + 30 * DAY)  # a long outage: both boundaries passed
    assert [(t.entered, t.at_ms, t.version) for t, _ in flips] == [
        (True, BASE + 7 * DAY + 1, 1),
        (False, BASE + 10 * DAY + 1, 2),
    ]
    assert advance(profile, registry, BASE + 30 * DAY) == []


def test_a_message_from_too_far_in_the_future_is_refused() -> None:
    raw = orjson.dumps(
        {"type": "track", "userId": "u", "event": "X", "timestamp": iso_from_ms(BASE + HOUR)}
    )
    with pytest.raises(InvalidMessage, match="in the future"):
        parse_message(raw, max_bytes=10_000, fallback_timestamp_ms=0, latest_ms=BASE + 300_000)
    assert parse_message(raw, max_bytes=10_000, fallback_timestamp_ms=0, latest_ms=BASE + HOUR)


def test_late_events_count_by_their_own_time() -> None:
    registry = Registry([TWICE_IN_A_DAY])
    now = BASE + 2 * DAY
    first = process(None, message(now, type="track", event="Visit"), registry, "x", now)
    late = message(BASE, type="track", event="Visit")  # two days late: outside the window
    assert process(first.profile, late, registry, "x", now).events == []
    recent_late = message(now - HOUR, type="track", event="Visit")  # late but inside it
    assert [e["type"] for e in process(first.profile, recent_late, registry, "x", now).events] == [
        "audience.entered"
    ]


def test_an_offset_window_enters_as_events_age_into_it_and_exits_as_they_age_out() -> None:
    """ "Visited 2 to 1 days ago": a visit now counts only from one day on (its bucket's
    entry instant), and stops counting two days on; nothing else happens in between."""
    earlier = segment_from_spec({"key": "came-yesterday", "condition": {
        "event": "Visit", "within": {"from_ago": 2, "to_ago": 1, "unit": "days"}}})  # fmt: skip
    registry = Registry([earlier])
    first = process(None, message(BASE, type="track", event="Visit"), registry, "x", BASE)
    assert first.events == []  # today's visit is not in the window yet
    profile = first.profile
    width = 2 * DAY // 48  # buckets of 1/48 of the window, as computed traits use
    entry = (BASE // width + DAY // width) * width
    assert profile.next_due_ms() == entry
    [(entered, _)] = advance(profile, registry, entry)
    assert (entered.entered, entered.at_ms) == (True, entry)
    [(exited, _)] = advance(profile, registry, BASE + 3 * DAY)
    assert exited.entered is False and BASE + 2 * DAY - width < exited.at_ms <= BASE + 2 * DAY


ABANDONED = segment_from_spec({"key": "abandoned", "condition": {"sequence": {
    "steps": [{"event": "Pricing Viewed"},
              {"event": "Checkout Started", "within": {"last": 1, "unit": "hours"}}],
    "not_followed_by": {"event": "Order Completed", "within": {"last": 1, "unit": "days"}},
}}})  # fmt: skip


def test_a_sequence_waits_for_its_deadline_and_exits_at_it() -> None:
    registry = Registry([ABANDONED])
    step = process(None, message(BASE, type="track", event="Pricing Viewed"), registry, "x", BASE)
    assert step.events == []
    late = message(BASE + 2 * HOUR, type="track", event="Checkout Started")  # past the gap
    assert process(step.profile, late, registry, "x", BASE + 2 * HOUR).events == []
    checkout = message(BASE + 30 * 60_000, type="track", event="Checkout Started")  # arrives late
    entered = process(step.profile, checkout, registry, "x", BASE + 2 * HOUR)
    assert [e["type"] for e in entered.events] == ["audience.entered"]
    profile = entered.profile
    assert profile.next_due_ms() == BASE + 30 * 60_000 + DAY  # the deadline after the step
    [(exited, why)] = advance(profile, registry, BASE + 2 * DAY)
    assert (exited.entered, exited.at_ms) == (False, BASE + 30 * 60_000 + DAY)
    assert '"not_followed_by"' in why


def test_the_event_that_must_not_follow_ends_the_wait() -> None:
    registry = Registry([ABANDONED])
    profile = None
    for at, event in ((BASE, "Pricing Viewed"), (BASE + HOUR, "Checkout Started")):
        profile = process(
            profile, message(at, type="track", event=event), registry, "x", at
        ).profile
    order = message(BASE + 5 * HOUR, type="track", event="Order Completed")
    done = process(profile, order, registry, "x", BASE + 5 * HOUR)
    assert [e["type"] for e in done.events] == ["audience.exited"]
    assert done.profile.next_due_ms() is None
