"""What a definition asks to count from history, and how workers pause it meanwhile."""

from __future__ import annotations

import orjson

from traitflow.ingest.messages import Message
from traitflow.profiles import Profile
from traitflow.segments import Registry, computed_from_spec, segment_from_spec
from traitflow.segments.engine import count_event, decide
from traitflow.segments.registry import Paused
from traitflow.segments.replay import (
    REPLAY_HEADER,
    Replay,
    plan_replays,
    read_replay_header,
    replay_header,
)

DAY_MS = 86_400_000
NOW = 1_795_435_200_000
TWICE = {
    "key": "twice",
    "condition": {
        "event": "Pricing", "types": ["page"], "count": {"at_least": 2},
        "within": {"last": 7, "unit": "days"},
    },
}  # fmt: skip
SPEND = {"key": "spend", "event": "Order Completed", "aggregate": "sum", "property": "total"}
BIG = {"key": "big", "condition": {"computed": "spend", "op": ">=", "value": 100}}
PLAN = {"key": "plan", "condition": {"trait": "plan", "op": "exists"}}
BOTH = {"key": "both", "condition": {"and": [{"segment": "twice"}, {"segment": "plan"}]}}


def test_new_event_state_is_replayed_from_its_longest_window() -> None:
    twice, spend = segment_from_spec(TWICE), computed_from_spec(SPEND)
    plans = plan_replays([], [twice, spend, segment_from_spec(PLAN)], NOW)
    assert set(plans) == {"twice", "computed/spend"}  # a trait segment has no history
    assert plans["twice"] == ([twice.condition.feature.id], NOW - 7 * DAY_MS)  # type: ignore[union-attr]
    assert plans["computed/spend"] == ([spend.feature.id], 0)  # all time: from the start


def test_features_already_live_are_not_replayed() -> None:
    twice = segment_from_spec(TWICE)
    live = Registry([twice]).feature_ids()
    again = segment_from_spec({**TWICE, "key": "also-twice"})  # the very same count
    assert plan_replays(live, [again], NOW) == {}


def test_the_header_round_trips_and_a_bad_one_is_no_replay() -> None:
    replay = Replay("r1", frozenset({"f1", "f2"}), 5)
    assert read_replay_header([replay_header(replay)]) == replay
    assert read_replay_header([(REPLAY_HEADER, b"{not json")]) is None
    assert read_replay_header([(REPLAY_HEADER, b'{"id": "x"}')]) is None
    assert read_replay_header(None) is None


def test_the_registry_knows_which_features_replay_until_a_record_says_otherwise() -> None:
    registry = Registry()
    feature = segment_from_spec(TWICE).condition.feature.id  # type: ignore[union-attr]
    header = replay_header(Replay("r1", frozenset({feature, "gone"}), 0))
    registry.apply_record(b"twice", orjson.dumps(TWICE), 3, [header])
    assert registry.replaying() == {"r1": frozenset({feature})}  # only live features
    registry.apply_record(b"twice", orjson.dumps(TWICE), 4, [])
    assert registry.replaying() == {}
    registry.apply_record(b"twice", orjson.dumps(TWICE), 5, [header])
    registry.apply_record(b"twice", None, 6)
    assert registry.replaying() == {}


def test_segments_reading_a_feature_include_those_through_traits_and_references() -> None:
    registry = Registry(
        [segment_from_spec(s) for s in (TWICE, PLAN, BOTH, BIG)] + [computed_from_spec(SPEND)]
    )
    twice = registry.segments["twice"].condition.feature.id  # type: ignore[attr-defined]
    spend = registry.computed["spend"].feature.id
    assert registry.reading([twice]) == {"twice", "both"}
    assert registry.reading([spend]) == {"big"}


def _page(at_ms: int) -> Message:
    body = {"type": "page", "name": "Pricing", "userId": "ada"}
    return Message("page", f"m{at_ms}", "ada", None, at_ms, body)


def test_paused_segments_are_not_decided_and_paused_features_not_counted() -> None:
    registry = Registry([segment_from_spec(s) for s in (TWICE, PLAN, BOTH)])
    twice = registry.segments["twice"].condition.feature.id  # type: ignore[attr-defined]
    profile = Profile(person="ada", traits={"plan": "pro"})
    count_event(profile, _page(NOW - 2), registry, NOW)
    count_event(profile, _page(NOW - 1), registry, NOW)
    registry.paused = Paused(frozenset({twice}), registry.reading([twice]))
    assert count_event(profile, _page(NOW), registry, NOW, skip=registry.paused.features) == set()
    flips = decide(profile, registry, {("feature", twice), ("trait", "plan")}, NOW, NOW)
    assert [(t.segment, t.entered) for t in flips] == [("plan", True)]  # twice, both held
    registry.paused = Paused()
    flips = decide(profile, registry, {("feature", twice)}, NOW, NOW)
    assert sorted((t.segment, t.entered) for t in flips) == [("both", True), ("twice", True)]
    assert len(profile.features[twice]) == 2  # the paused message was not counted


def test_count_event_counts_only_the_features_asked_for() -> None:
    registry = Registry([segment_from_spec(TWICE)])
    twice = registry.segments["twice"].condition.feature.id  # type: ignore[attr-defined]
    profile = Profile(person="ada")
    assert count_event(profile, _page(NOW), registry, NOW, only=frozenset()) == set()
    assert count_event(profile, _page(NOW), registry, NOW, only=frozenset({twice})) == {
        ("feature", twice)
    }
