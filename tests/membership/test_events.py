"""Membership events: schema-valid, with ids that repeat exactly when the transition does."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

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


@given(st.text(), st.text(min_size=1), st.integers(min_value=1, max_value=10**9))
def test_ids_are_the_uuid5_of_person_segment_and_version(
    person: str, segment: str, version: int
) -> None:
    """Ids of events already published must not change: they are how consumers dedupe."""
    namespace = uuid.UUID("6f1b7a52-3c1e-4c3e-9a55-7a1f0e2b9c10")
    expected = uuid.uuid5(namespace, f"{person}\x1f{segment}\x1f{version}")
    assert event_id(person, segment, version) == str(expected)
