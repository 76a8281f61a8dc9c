"""Engine properties the reference comparison cannot show: bounded state, bounded work."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from tests.support.messages import parsed
from traitflow.exceptions import InvalidDefinition
from traitflow.ingest.messages import Message
from traitflow.profiles import Profile
from traitflow.segments import Registry, computed_from_spec, segment_from_spec
from traitflow.segments.engine import ProfileContext
from traitflow.segments.features import finish_sessions, join_spans
from traitflow.segments.pipeline import process

BASE = 1_795_420_800_000


def message(n: int, **body: Any) -> Message:
    return parsed(None, BASE + n * 60_000, userId="u1", **body)


def test_state_stays_bounded_for_a_person_who_never_stops() -> None:
    registry = Registry(
        [
            computed_from_spec({"key": "spend", "event": "Buy", "aggregate": "sum", "property": "n",
                                "within": {"last": 1, "unit": "days"}}),
            computed_from_spec({"key": "things", "event": "Buy", "aggregate": "unique_list",
                                "property": "thing"}),
            segment_from_spec({"key": "busy", "condition": {
                "event": "Buy", "count": {"at_least": 3}, "within": {"last": 2, "unit": "hours"}}}),
            segment_from_spec({"key": "big", "condition": {
                "computed": "spend", "op": ">", "value": 5}}),
        ]
    )  # fmt: skip
    profile: Profile | None = None
    sizes = []
    for n in range(6_000):  # four days, one purchase a minute, a new product each time
        buy = message(n, type="track", event="Buy", properties={"n": 1, "thing": f"t{n}"})
        profile = process(profile, buy, registry, "__null__", 0).profile
        if n % 1_000 == 999:
            sizes.append(len(profile.to_bytes()))
    assert max(sizes) < 60_000
    assert sizes[-1] <= sizes[1] * 1.1  # stopped growing after the first day


class Counting:
    """Wraps a condition and counts how often it is evaluated."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def matches(self, ctx: ProfileContext) -> bool:
        self.calls += 1
        return bool(self.inner.matches(ctx))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def counted(spec: dict[str, Any]) -> Any:
    segment = segment_from_spec(spec)
    return dataclasses.replace(segment, condition=Counting(segment.condition))


def test_a_message_evaluates_only_the_segments_reading_what_it_changed() -> None:
    related = counted({"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}})
    unrelated = [
        counted({"key": f"u{i}", "condition": {"trait": f"other{i}", "op": "exists"}})
        for i in range(300)
    ] + [
        counted({"key": f"e{i}", "condition": {"event": f"Event {i}", "within": {"last": 1}}})
        for i in range(300)
    ]
    registry = Registry([related, *unrelated])
    first = process(None, message(0, type="identify", traits={"plan": "free"}), registry, "x", 0)
    for segment in [related, *unrelated]:
        segment.condition.calls = 0
    process(first.profile, message(1, type="identify", traits={"plan": "trial"}), registry, "x", 0)
    assert related.condition.calls == 1
    assert sum(s.condition.calls for s in unrelated) == 0


def test_members_of_a_deleted_segment_exit_with_cause_segment_deleted() -> None:
    registry = Registry()
    trial = {"trait": "plan", "op": "=", "value": "trial"}
    registry.put(segment_from_spec({"key": "trial", "condition": trial}))
    identify = message(1, type="identify", traits={"plan": "trial"})
    profile = process(None, identify, registry, "__null__", 0).profile
    assert profile.is_member("trial")
    registry.remove("trial")
    outcome = process(profile, message(2, type="track", event="Opened"), registry, "__null__", 0)
    [exited] = outcome.events
    assert (exited["type"], exited["segment"], exited["version"]) == ("audience.exited", "trial", 2)
    assert exited["cause"]["kind"] == "segment_deleted" and "revision" not in exited
    assert "trial" not in outcome.profile.memberships


def test_sessions_join_events_closer_than_the_gap_in_any_order() -> None:
    minute = 60_000
    times = [0, 10 * minute, 50 * minute, 55 * minute, 200 * minute]
    forward = reverse = []
    for at in times:
        forward = join_spans([*forward, [at, at]], 30 * minute)
    for at in reversed(times):
        reverse = join_spans([*reverse, [at, at]], 30 * minute)
    assert forward == reverse == [[0, 10 * minute], [50 * minute, 55 * minute], [200 * minute] * 2]
    assert finish_sessions("visits", [forward[:1], forward[1:]], 30 * minute) == 3
    assert finish_sessions("minutes", [forward], 30 * minute) == 15
    assert join_spans([[0, 0], [20 * minute, 20 * minute]], 30 * minute) == [[0, 20 * minute]]
    many = join_spans([[i * 100 * minute, i * 100 * minute] for i in range(150)], minute)
    assert len(many) == 100 and many[0][0] == 0 and many[-1][1] == 149 * 100 * minute


def test_minutes_and_visits_need_a_sliding_window() -> None:
    spec = {"key": "m", "event": "$activity", "aggregate": "minutes"}
    with pytest.raises(InvalidDefinition, match="needs a sliding window"):
        computed_from_spec(spec)
    with pytest.raises(InvalidDefinition, match="'session_gap' applies to"):
        computed_from_spec({"key": "c", "event": "X", "aggregate": "count", "session_gap": 5})
    within = computed_from_spec({**spec, "within": {"last": 7}, "session_gap": 10}).feature
    assert within.matcher.types == ("page", "screen", "track") and within.gap_ms == 600_000


def test_members_of_a_definition_that_cannot_be_read_are_held_not_exited() -> None:
    """A definition record that no longer parses (an upgrade, a hostile producer) in a
    fresh process: the segment is absent, yet its members stay (no ``segment_deleted``)."""
    trial = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
    registry = Registry()
    registry.apply_record(b"trial", orjson.dumps(trial), 1)
    identify = message(1, type="identify", traits={"plan": "trial"})
    profile = process(None, identify, registry, "__null__", 0).profile
    restarted = Registry()  # the record was replaced by one nobody can read
    restarted.apply_record(b"trial", b'{"key": "trial", "condition": {"trait": 5}}', 2)
    assert "trial" in restarted.unreadable and "trial" not in restarted.segments
    outcome = process(profile, message(2, type="track", event="Opened"), restarted, "__null__", 0)
    assert outcome.events == [] and outcome.profile.is_member("trial")
    restarted.apply_record(b"trial", None, 3)  # deleted for real: now they exit
    outcome = process(outcome.profile, message(3, type="track", event="Opened"), restarted,
                      "__null__", 0)  # fmt: skip
    assert [e["cause"]["kind"] for e in outcome.events] == ["segment_deleted"]
