"""The pure step: one message, one profile, the transitions it causes."""

from typing import Any

from tests.support.messages import parsed
from traitflow.ingest.messages import Message
from traitflow.segments import Registry, segment_from_spec
from traitflow.segments.pipeline import process

TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)
NO_EMAIL = segment_from_spec(
    {"key": "no-email", "condition": {"trait": "email", "op": "not_exists"}}
)


def message(kind: str = "identify", at: str = "2026-11-23T08:00:00Z", **body: Any) -> Message:
    return parsed(kind, at, userId="u1", **body)


def test_entering_and_exiting_counts_versions() -> None:
    registry = Registry([TRIAL])
    first = process(None, message(traits={"plan": "trial"}), registry, "__null__", 0)
    second = process(first.profile, message(traits={"plan": "paid"}), registry, "__null__", 0)
    third = process(second.profile, message(traits={"plan": "trial"}), registry, "__null__", 0)
    flips = [(e["type"], e["version"]) for o in (first, second, third) for e in o.events]
    assert flips == [("audience.entered", 1), ("audience.exited", 2), ("audience.entered", 3)]


def test_no_event_when_the_answer_does_not_change() -> None:
    registry = Registry([TRIAL])
    first = process(None, message(traits={"plan": "trial"}), registry, "__null__", 0)
    again = process(
        first.profile, message(traits={"plan": "trial", "seats": 3}), registry, "__null__", 0
    )
    assert again.events == []


def test_a_new_person_is_evaluated_against_every_segment() -> None:
    outcome = process(
        None, message("track", event="Signed Up"), Registry([TRIAL, NO_EMAIL]), "__null__", 0
    )
    assert [e["segment"] for e in outcome.events] == ["no-email"]


def test_a_segment_added_later_is_evaluated_on_the_next_message() -> None:
    registry = Registry([NO_EMAIL])
    first = process(None, message(traits={"plan": "trial"}), registry, "__null__", 0)
    registry.put(TRIAL)
    later = process(first.profile, message("track", event="Clicked"), registry, "__null__", 0)
    assert [e["segment"] for e in later.events] == ["trial"]


def test_event_time_and_cause_come_from_the_message() -> None:
    outcome = process(
        None, message(traits={"plan": "trial"}, messageId="m9"), Registry([TRIAL]), "x", 0
    )
    [event] = outcome.events
    assert event["at"] == "2026-11-23T08:00:00.000Z"
    assert event["cause"] == {"kind": "message", "message_id": "m9", "message_type": "identify"}
