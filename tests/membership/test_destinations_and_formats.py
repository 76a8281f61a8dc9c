"""Destinations in segment definitions, mapped traits on events, output formats (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from traitflow.exceptions import InvalidDefinition
from traitflow.jsonschemas import compile_schema
from traitflow.membership import Cause, Transition, membership_event
from traitflow.membership.destinations import KINDS
from traitflow.membership.events import merged_event
from traitflow.membership.formats import FORMATS, render
from traitflow.profiles import Membership, Profile
from traitflow.segments import segment_from_spec


def segment(*destinations: dict[str, Any]) -> Any:
    condition = {"trait": "plan", "op": "=", "value": "trial"}
    return segment_from_spec(
        {"key": "trial", "condition": condition, "destinations": list(destinations)}
    )


CRM = {"name": "crm", "kind": "webhook", "traits": {"email": "Email", "address.city": "City"}}
ADS = {"name": "ads", "kind": "facebook", "traits": {"email": "email", "first_name": "firstName"}}


def event_for(*destinations: dict[str, Any], entered: bool = True) -> dict[str, Any]:
    profile = Profile(
        "ada",
        user_id="ada",
        traits={"email": "ada@example.com", "first_name": "Ada", "address": {"city": "London"}},
    )
    return membership_event(
        profile,
        Transition("trial", entered, 1 if entered else 2, 1_795_420_800_000),
        Cause("m1", "identify"),
        segment(*destinations),
    )


def test_events_carry_each_destinations_mapped_traits_as_of_the_transition() -> None:
    event = event_for(CRM, ADS)
    assert event["destinations"] == {
        "crm": {"kind": "webhook", "format": "traitflow",
                "traits": {"Email": "ada@example.com", "City": "London"}},
        "ads": {"kind": "facebook", "format": "segment-identify",
                "traits": {"email": "ada@example.com", "firstName": "Ada"}},
    }  # fmt: skip


def test_a_segment_without_destinations_adds_nothing() -> None:
    assert "destinations" not in event_for()


@pytest.mark.parametrize(
    ("destination", "complaint"),
    [
        ({"name": "fb", "kind": "facebook", "traits": {"plan": "plan"}}, "not accepted"),
        ({"name": "zd", "kind": "zendesk", "traits": {"first_name": "firstName"}}, "lastName"),
        ({"name": "g", "kind": "google", "traits": {"phone": "phone"}}, "'email'"),
        (
            {"name": "g", "kind": "google",
             "traits": {"email": "email", "phone": "phone", "mobile": "mobile"}},
            "one phone",
        ),
        ({"name": "x", "traits": {"a": "f", "b": "f"}}, "same field"),
        ({"name": "x", "kind": "carrier-pigeon"}, "kind"),
    ],
)  # fmt: skip
def test_destination_rules_are_checked_at_apply_time(
    destination: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidDefinition, match=complaint):
        segment(destination)


def test_facebook_accepts_its_keys_and_address_fields() -> None:
    ok = {"name": "fb", "kind": "facebook", "traits": {"city": "address.city", "e": "email"}}
    assert segment(ok).destinations[0].kind == "facebook"


def test_duplicate_destination_names_are_refused() -> None:
    with pytest.raises(InvalidDefinition, match="unique"):
        segment(CRM, CRM)


def test_render_traitflow_format_keeps_the_event_and_adds_traits() -> None:
    event = event_for(CRM)
    rendered = render(event, "crm")
    assert rendered["id"] == event["id"]
    assert rendered["traits"] == {"Email": "ada@example.com", "City": "London"}
    assert "destinations" not in rendered
    assert render(event) == {k: v for k, v in event.items() if k != "destinations"}


def test_render_segment_track_audience_entered_and_exited() -> None:
    destination = {**CRM, "format": "segment-track"}
    entered = render(event_for(destination), "crm")
    assert entered["type"] == "track" and entered["event"] == "Audience Entered"
    assert entered["properties"] == {
        "audience_key": "trial", "trial": True, "Email": "ada@example.com", "City": "London",
    }  # fmt: skip
    assert entered["context"]["personas"]["computation_key"] == "trial"
    assert entered["context"]["personas"]["computation_class"] == "audience"
    assert entered["userId"] == "ada"
    exited = render(event_for(destination, entered=False), "crm")
    assert exited["event"] == "Audience Exited"
    assert exited["properties"]["trial"] is False
    assert exited["messageId"] != entered["messageId"]


def test_render_segment_identify_sets_the_audience_trait() -> None:
    identify = render(event_for(ADS), "ads")
    assert identify["type"] == "identify"
    assert identify["traits"] == {"email": "ada@example.com", "firstName": "Ada", "trial": True}
    assert identify["messageId"] == event_for(ADS)["id"]


def test_an_event_with_destinations_matches_the_published_schema() -> None:
    compile_schema("membership-event.json")(event_for(CRM, ADS))


def test_an_event_names_the_revision_of_the_definition_that_decided_it() -> None:
    assert event_for(CRM)["revision"] == segment(CRM).rev
    assert merged_for(CRM)["revision"] == segment(CRM).rev


def merged_for(*destinations: dict[str, Any]) -> dict[str, Any]:
    survivor = Profile("ada", user_id="ada", traits={"email": "ada@example.com"})
    survivor.memberships["trial"] = Membership(member=True, version=1, since_ms=0)
    absorbed = Profile("anon-1", anonymous_id="anon-1")
    cause = Cause("m3", "identify", kind="merge", merged=("ada", "anon-1"))
    return merged_event(
        absorbed,
        "trial",
        2,
        survivor,
        cause,
        1_795_420_800_000,
        segment(*destinations),
    )


def test_a_merged_event_matches_the_schema_and_names_both_ids() -> None:
    event = merged_for(CRM)
    compile_schema("membership-event.json")(event)
    assert (event["type"], event["person"], event["version"]) == ("audience.merged", "anon-1", 2)
    assert event["merged_into"] == {
        "person": "ada", "user_id": "ada", "anonymous_id": None, "version": 1,
    }  # fmt: skip
    assert event["cause"]["merged"] == {"into": "ada", "from": "anon-1"}
    assert event["destinations"]["crm"]["traits"] == {"Email": "ada@example.com"}


@pytest.mark.parametrize("format_", ["segment-track", "segment-identify"])
def test_segment_formats_render_a_merge_as_an_alias(format_: str) -> None:
    alias = render(merged_for({**CRM, "format": format_}), "crm")
    assert (alias["type"], alias["previousId"], alias["userId"]) == ("alias", "anon-1", "ada")
    assert "anonymousId" not in alias
    assert alias["messageId"] == merged_for(CRM)["id"]


def test_the_schema_names_exactly_the_registered_kinds_and_formats() -> None:
    schema = orjson.loads((Path(__file__).parents[2] / "schemas/segment.json").read_bytes())
    destination = schema["properties"]["destinations"]["items"]["properties"]
    assert destination["kind"]["enum"] == list(KINDS)
    assert destination["format"]["enum"] == list(FORMATS)
