"""Membership events: schema-valid, with ids that repeat exactly when the transition does."""

from traitflow.jsonschemas import compile_schema
from traitflow.membership import Cause, Transition, event_id, membership_event
from traitflow.profiles import Profile


def test_event_matches_its_schema() -> None:
    profile = Profile("u1", user_id="u1")
    event = membership_event(profile, Transition("trial", True, 1, 0), Cause("m1", "identify"))
    compile_schema("membership-event.json")(event)
    assert event["type"] == "audience.entered"
    assert event["at"] == "1970-01-01T00:00:00.000Z"


def test_ids_are_deterministic_and_distinct() -> None:
    assert event_id("u1", "trial", 1) == event_id("u1", "trial", 1)
    ids = {event_id("u1", "trial", 1), event_id("u1", "trial", 2), event_id("u2", "trial", 1)}
    assert len(ids) == 3
