"""The Tracking API's rules for turning a body into records (pure)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traitflow.bridge.intake import (
    Envelope,
    Rules,
    prepare,
    take_in,
    tracking_messages,
    webhook_messages,
)
from traitflow.bridge.refusals import RequestRefused
from traitflow.exceptions import InvalidMessage
from traitflow.privacy.suppressions import Suppressions
from traitflow.timeutil import ms_from_iso

RECEIVED = "2026-11-23T12:00:00.000Z"
RULES = Rules(max_message_bytes=32 * 1024, max_batch=3, future_tolerance_ms=300_000)
ENVELOPE = Envelope(received_ms=ms_from_iso(RECEIVED))


def prepared(item: Any, envelope: Envelope = ENVELOPE) -> tuple[bytes | None, dict[str, Any]]:
    key, raw = prepare(item, envelope, RULES)
    assert raw is not None
    return key, orjson.loads(raw)


def test_a_single_endpoint_sets_the_type_and_keys_by_person() -> None:
    items, envelope = tracking_messages("track", {"userId": "u1", "event": "x"}, RULES, ENVELOPE)
    key, message = prepared(items[0], envelope)
    assert key == b"u1"
    assert message["type"] == "track"


def test_message_id_and_received_at_are_added_only_when_absent() -> None:
    _, message = prepared({"type": "track", "userId": "u1", "event": "x"})
    assert message["messageId"].startswith("tf-")
    assert message["receivedAt"] == RECEIVED
    assert message["timestamp"] == RECEIVED
    own = {"type": "track", "userId": "u1", "event": "x", "messageId": "m-1"}
    _, kept = prepared({**own, "receivedAt": "2026-11-23T11:00:00Z"})
    assert (kept["messageId"], kept["receivedAt"]) == ("m-1", "2026-11-23T11:00:00Z")


def test_a_message_without_id_gets_the_same_id_when_sent_again() -> None:
    item = {"type": "track", "userId": "u1", "event": "x"}
    assert prepared(dict(item))[1]["messageId"] == prepared(dict(item))[1]["messageId"]
    assert prepared(item)[1]["messageId"] != prepared({**item, "event": "y"})[1]["messageId"]


def test_timestamp_corrects_the_client_clock_skew() -> None:
    """The device clock is 1 h fast: sentAt - originalTimestamp is the real 5 s delay."""
    item = {
        "type": "track",
        "userId": "u1",
        "event": "x",
        "timestamp": "2026-11-23T12:59:50Z",
        "sentAt": "2026-11-23T12:59:55Z",
    }
    _, message = prepared(item)
    assert message["originalTimestamp"] == "2026-11-23T12:59:50Z"
    assert message["timestamp"] == "2026-11-23T11:59:55.000Z"


def test_without_sent_at_the_client_timestamp_is_kept() -> None:
    item = {"type": "track", "userId": "u1", "event": "x", "timestamp": "2026-11-20T08:00:00Z"}
    assert prepared(item)[1]["timestamp"] == "2026-11-20T08:00:00Z"


def test_batch_context_and_integrations_are_defaults_the_message_overrides() -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "x", "context": {"ip": "10.0.0.1"}},
            {"type": "identify", "anonymousId": "a1", "writeKey": "leaked"},
        ],
        "context": {"ip": "1.1.1.1", "library": {"name": "sdk"}},
        "integrations": {"All": False},
        "sentAt": RECEIVED,
        "writeKey": "k",
    }
    items, envelope = tracking_messages("batch", body, RULES, ENVELOPE)
    first, second = (prepared(item, envelope)[1] for item in items)
    assert first["context"] == {"ip": "10.0.0.1", "library": {"name": "sdk"}}
    assert second["context"] == {"ip": "1.1.1.1", "library": {"name": "sdk"}}
    assert first["integrations"] == second["integrations"] == {"All": False}
    assert "writeKey" not in second


def test_the_source_bound_to_the_write_key_is_recorded_in_context() -> None:
    envelope = Envelope(received_ms=ENVELOPE.received_ms, source="ios")
    _, message = prepared({"type": "page", "userId": "u1", "context": {"ip": "1"}}, envelope)
    assert message["context"] == {"ip": "1", "source": {"name": "ios"}}


def test_a_valid_message_naming_a_suppressed_id_is_accepted_and_dropped() -> None:
    suppressions = Suppressions()
    suppressions.add(["anon-1"], "r1")
    items = [
        {"type": "track", "userId": "ada", "anonymousId": "anon-1", "event": "x"},
        {"type": "track", "userId": "bob", "event": "x"},
        {"type": "track", "anonymousId": "anon-1"},  # invalid: still refused, with why
    ]
    intake = take_in(items, ENVELOPE, RULES, suppressions)
    assert [key for key, _ in intake.records] == [b"bob"]
    assert (intake.suppressed, intake.accepted, [r.index for r in intake.rejected]) == (1, 2, [2])


def test_each_bad_message_is_rejected_by_index_and_the_rest_kept() -> None:
    items = [
        {"type": "track", "userId": "u1", "event": "ok"},
        {"type": "track", "event": "nobody"},
        {"type": "launch", "userId": "u1"},
        "text",
        {"type": "track", "userId": "u1", "event": "x", "properties": {"blob": "x" * 40_000}},
        {"type": "track", "userId": "u1", "event": "x", "sentAt": "yesterday"},
        {"type": "track", "userId": "u1", "event": "x", "timestamp": "2027-01-01T00:00:00Z"},
    ]
    intake = take_in(items, ENVELOPE, RULES)
    assert len(intake.records) == 1
    reasons = {rejection.index: rejection.reason for rejection in intake.rejected}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "missing userId and anonymousId" in reasons[1]
    assert "unknown type 'launch'" in reasons[2]
    assert "not a JSON object" in reasons[3]
    assert "too large" in reasons[4]
    assert "sentAt" in reasons[5]
    assert "future" in reasons[6]


@pytest.mark.parametrize(
    ("endpoint", "body", "status"),
    [
        ("track", [1], 400),
        ("batch", {"messages": []}, 400),
        ("import", {"batch": [{}] * 4}, 413),
    ],
)
def test_malformed_requests_are_refused_whole(endpoint: str, body: Any, status: int) -> None:
    with pytest.raises(RequestRefused) as refused:
        tracking_messages(endpoint, body, RULES, ENVELOPE)
    assert refused.value.status == status


def test_webhook_takes_one_message_or_an_array() -> None:
    assert webhook_messages({"type": "track"}, RULES) == [{"type": "track"}]
    assert webhook_messages([{"a": 1}, {"b": 2}], RULES) == [{"a": 1}, {"b": 2}]
    with pytest.raises(RequestRefused):
        webhook_messages("text", RULES)
    with pytest.raises(RequestRefused):
        webhook_messages([{}] * 4, RULES)


def test_prepare_refuses_what_the_worker_would_dead_letter() -> None:
    with pytest.raises(InvalidMessage, match="must contain"):
        prepare({"type": "alias", "userId": "u1"}, ENVELOPE, RULES)


def test_a_derived_timestamp_out_of_range_is_rejected_not_a_crash() -> None:
    item = {
        "type": "track",
        "userId": "u1",
        "event": "x",
        "originalTimestamp": "0053-04-05T08:02:21Z",
        "sentAt": "9637-03-01T00:33:22Z",
    }
    with pytest.raises(InvalidMessage, match="outside years"):
        prepare(item, ENVELOPE, RULES)


def _nested_json(depth: int, leaf: object) -> object:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@given(
    depth=st.integers(min_value=1, max_value=400),
    # what orjson can read from a body: integers within 64 bits (larger ones come as floats)
    leaf=st.one_of(
        st.none(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=5), st.floats(allow_nan=False)
    ),
    where=st.sampled_from(["traits", "properties", "context", "userId", "integrations"]),
)
@settings(max_examples=150, deadline=None)
def test_any_nesting_is_a_record_or_a_named_refusal(depth: int, leaf: object, where: str) -> None:
    """orjson reads 1,024 levels and writes 254: nothing in between may escape as a 500."""
    message = {"type": "identify", "userId": "u1", where: _nested_json(depth, leaf)}
    try:
        prepare(message, ENVELOPE, RULES)
    except InvalidMessage as refused:
        assert refused.reason
