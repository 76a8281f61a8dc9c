"""Previews: members and differences against the live definition, merged over workers."""

from __future__ import annotations

from traitflow.admin.preview import Preview, merge_previews, new_features
from traitflow.catalog.topic import checked
from traitflow.profiles import Profile
from traitflow.profiles.profile import Membership
from traitflow.segments import Registry, computed_from_spec, segment_from_spec

NOW = 1_800_000_000_000
LIVE = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}


def person(name: str, plan: str, member: bool) -> tuple[str, Profile]:
    profile = Profile(person=name, user_id=name, traits={"plan": plan})
    if member:
        profile.memberships["trial"] = Membership(True, 1, NOW - 1000)
    return name, profile


PEOPLE = [person("ada", "trial", True), person("bob", "pro", True), person("cy", "pro", False),
          person("di", "team", False)]  # fmt: skip


def previewed(spec: dict[str, object], people: list[tuple[str, Profile]]) -> Preview:
    live = Registry([segment_from_spec(LIVE)])
    candidate = segment_from_spec(spec)
    preview = Preview(candidate, checked(live, [candidate]), live, NOW)
    preview.scan(people)
    return preview


def test_a_changed_definition_says_who_would_enter_and_exit() -> None:
    spec = {"key": "trial", "condition": {"trait": "plan", "op": "in", "value": ["pro", "team"]}}
    document = previewed(spec, PEOPLE).document(profiles=4, partitions=[0])
    assert document["members"] == {"count": 3, "sample": ["bob", "cy", "di"]}
    assert document["entering"] == {"count": 2, "sample": ["cy", "di"]}  # bob is in already
    assert document["exiting"] == {"count": 1, "sample": ["ada"]}
    assert (document["live"], document["fraction"]) == (True, 1.0)


def test_a_new_segment_enters_all_its_members_and_names_the_events_it_has_no_state_for() -> None:
    spec = {"key": "buyers", "condition": {"event": "Order Completed", "count": {"at_least": 1},
                                           "within": {"last": 7, "unit": "days"}}}  # fmt: skip
    document = previewed(spec, PEOPLE).document(profiles=8, partitions=[0])
    assert document["live"] is False
    assert document["members"]["count"] == 0
    assert document["new_features"] == ["track Order Completed"]
    assert document["fraction"] == 0.5


def test_merged_previews_sum_counts_and_take_each_partition_once() -> None:
    spec = {"key": "pro", "condition": {"trait": "plan", "op": "=", "value": "pro"}}
    first = previewed(spec, PEOPLE[:2]).document(2, [0])
    second = previewed(spec, PEOPLE[2:]).document(2, [1])
    stale = previewed(spec, PEOPLE).document(4, [1])  # a partition moving mid-request
    merged = merge_previews([first, second, stale])
    assert merged["members"] == {"count": 2, "sample": ["bob", "cy"]}
    assert (merged["scanned"], merged["profiles"], merged["partitions"]) == (4, 4, [0, 1])


def test_known_events_are_not_new() -> None:
    spec = {"key": "t2", "condition": {"trait": "plan", "op": "exists"}}
    live = Registry([segment_from_spec(LIVE)])
    assert new_features(segment_from_spec(spec), live, live) == []
    spend = computed_from_spec({"key": "spend", "event": "Order Completed", "aggregate": "sum",
                                "property": "total"})  # fmt: skip
    big = segment_from_spec(
        {"key": "big", "condition": {"computed": "spend", "op": ">", "value": 9}}
    )
    assert new_features(big, checked(live, [spend, big]), live) == ["track Order Completed"]
