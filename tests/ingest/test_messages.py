"""Decoding and validating Segment-spec messages."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import identify_traits, parse_message, routing_key

LIMIT = 32 * 1024


def parse(body: object) -> object:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_message(raw, max_bytes=LIMIT, fallback_timestamp_ms=42)


def test_identify_fields_are_pulled_out() -> None:
    message = parse(
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "m1",
            "timestamp": "2026-11-23T08:00:00Z",
            "traits": {"plan": "trial"},
        }
    )
    assert message.type == "identify"
    assert message.person == "u1"
    assert message.message_id == "m1"
    assert message.timestamp_ms == 1795420800000


def test_anonymous_message_uses_anonymous_id_and_fallback_time() -> None:
    message = parse({"type": "track", "anonymousId": "a1", "event": "Signed Up"})
    assert message.person == "a1"
    assert message.timestamp_ms == 42


def test_missing_message_id_is_derived_from_bytes() -> None:
    raw = orjson.dumps({"type": "track", "userId": "u1", "event": "X"})
    first = parse_message(raw, max_bytes=LIMIT, fallback_timestamp_ms=0)
    second = parse_message(raw, max_bytes=LIMIT, fallback_timestamp_ms=0)
    assert first.message_id.startswith("tf-")
    assert first.message_id == second.message_id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({"type": "shout", "userId": "u"}), "unknown type"),
        (orjson.dumps({"type": "track", "userId": "u"}), "invalid track"),
        (orjson.dumps({"type": "identify", "traits": {}}), "missing userId and anonymousId"),
        (orjson.dumps({"type": "identify", "userId": " "}), "missing userId and anonymousId"),
        (
            orjson.dumps({"type": "identify", "userId": "u", "timestamp": "yesterday"}),
            "timestamp must be date-time",
        ),
        (b'{"type":"identify","userId":"u","traits":{"x":"' + b"y" * LIMIT + b'"}}', "too large"),
    ],
)
def test_invalid_messages_name_their_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse(raw)
    assert reason in caught.value.reason


def test_routing_key_prefers_user_id() -> None:
    assert routing_key({"userId": "u1", "anonymousId": "a1"}) == b"u1"
    assert routing_key({"anonymousId": "a1"}) == b"a1"
    assert routing_key({}) is None


def test_identify_traits_come_from_traits_over_context_traits() -> None:
    assert identify_traits({"traits": {"plan": "trial"}}) == {"plan": "trial"}
    rudder = {"context": {"traits": {"plan": "trial", "email": "a@b.c"}}}
    assert identify_traits(rudder) == {"plan": "trial", "email": "a@b.c"}
    both = {"traits": {"plan": "paid"}, "context": {"traits": {"plan": "trial", "x": 1}}}
    assert identify_traits(both) == {"plan": "paid", "x": 1}
    assert identify_traits({"traits": "junk", "context": "junk"}) == {}


def nested(depth: int) -> object:
    """An object ``depth`` levels deep, the outermost being 1."""
    value: object = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "identify", "userId": "u", "traits": nested(32)}, "nested too deep"),
        ({"type": "identify", "userId": "u", "traits": {"a": [nested(40)]}}, "nested too deep"),
        ({"type": "identify", "userId": 1.8446744073709552e19}, "not an exact id"),
        ({"type": "identify", "userId": -0.0}, "not an exact id"),
        ({"type": "identify", "userId": 1e308}, "not an exact id"),
        ({"type": "alias", "userId": "u", "previousId": 2.5}, "not an exact id"),
        ({"type": "identify", "userId": "null"}, "junk id"),
        ({"type": "identify", "userId": "undefined", "anonymousId": "NULL"}, "junk id"),
        (
            {"type": "identify", "userId": "u", "timestamp": "0001-01-01T00:00:00+05:00"},
            "outside 1970-01-01 to 9999-12-31",
        ),
        (
            {"type": "identify", "userId": "u", "timestamp": "1969-12-31T23:59:59Z"},
            "outside 1970-01-01 to 9999-12-31",
        ),
        (
            {"type": "identify", "userId": "u", "traits": {"blob": "y" * 17_000}},
            "trait 'blob' too large",
        ),
        (
            {"type": "group", "userId": "u", "groupId": "g", "traits": {"blob": "y" * 17_000}},
            "trait 'blob' too large",
        ),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, str) else None,
)
def test_limits_at_the_core_edge_name_their_reason(body: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse(body)
    assert reason in caught.value.reason


def test_messages_within_the_limits_pass() -> None:
    assert parse({"type": "identify", "userId": "u", "traits": nested(31)})
    assert parse({"type": "identify", "userId": 18446744073709551615}).user_id == (
        "18446744073709551615"
    )
    assert parse({"type": "identify", "userId": "null", "anonymousId": "a1"})
    assert parse({"type": "identify", "userId": "u", "traits": {"blob": "y" * 16_000}})
    late = parse(
        {"type": "track", "userId": "u", "event": "E", "timestamp": "9999-12-31T23:59:00Z"}
    )
    assert late.timestamp_ms == 253_402_300_740_000


def test_limits_follow_the_settings() -> None:
    from traitflow.config import Settings
    from traitflow.ingest.messages import Limits

    limits = Limits.of(Settings(max_nesting_depth=3, identity_junk_ids=["Nobody"]))
    raw = orjson.dumps({"type": "identify", "userId": "u", "traits": {"a": {"b": {}}}})
    with pytest.raises(InvalidMessage, match="more than 3 levels"):
        parse_message(raw, max_bytes=LIMIT, fallback_timestamp_ms=0, limits=limits)
    raw = orjson.dumps({"type": "identify", "userId": " nobody "})
    with pytest.raises(InvalidMessage, match="junk id"):
        parse_message(raw, max_bytes=LIMIT, fallback_timestamp_ms=0, limits=limits)


json_values = st.recursive(
    st.none() | st.booleans() | st.text(alphabet="{[]}ab", max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(json_values, st.integers(min_value=1, max_value=6))
def test_the_depth_shortcut_refuses_exactly_what_the_walk_refuses(
    traits: object, depth: int
) -> None:
    """Counting brackets in the raw bytes (strings included) only skips the walk when no
    nesting can be that deep: the answer is the walk's."""
    from traitflow.ingest.messages import Limits, check_depth

    body = {"type": "identify", "userId": "u", "traits": traits}
    limits = Limits(max_depth=depth)
    try:
        check_depth(body, depth)
        walked = None
    except InvalidMessage as exc:
        walked = exc.kind
    try:
        parse_message(orjson.dumps(body), max_bytes=LIMIT, fallback_timestamp_ms=0, limits=limits)
        parsed = None
    except InvalidMessage as exc:
        parsed = exc.kind
    assert (walked == "too_deep") == (parsed == "too_deep")
