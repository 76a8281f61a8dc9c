"""Decode and validate one Segment-spec message; every failure names its reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from fastjsonschema import JsonSchemaValueException

from traitflow.exceptions import InvalidMessage
from traitflow.jsonschemas import compile_schema, explain
from traitflow.timeutil import ms_from_iso

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


@dataclass(frozen=True, slots=True)
class Message:
    """A validated message, with the fields the engine reads pulled out."""

    type: str
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    timestamp_ms: int
    body: dict[str, Any]

    @property
    def person(self) -> str:
        """The profile this message is about (before identity resolution: userId first)."""
        return self.user_id or self.anonymous_id or ""


def parse_message(
    raw: bytes, *, max_bytes: int, fallback_timestamp_ms: int, latest_ms: int | None = None
) -> Message:
    """Validate ``raw``; ``fallback_timestamp_ms`` is used when it carries no timestamp, and
    a timestamp after ``latest_ms`` (now plus the tolerated clock skew) is refused."""
    if len(raw) > max_bytes:
        raise InvalidMessage(f"message too large: {len(raw)} bytes, the limit is {max_bytes}")
    return check_message(
        _decode(raw), fallback_timestamp_ms=fallback_timestamp_ms, latest_ms=latest_ms, raw=raw
    )


def check_message(
    body: dict[str, Any],
    *,
    fallback_timestamp_ms: int,
    latest_ms: int | None = None,
    raw: bytes = b"",
) -> Message:
    """Validate an already decoded message; ``raw`` derives the id when it has no messageId."""
    kind = body.get("type")
    if kind not in MESSAGE_TYPES:
        raise InvalidMessage(f"unknown type {kind!r}: expected one of {', '.join(MESSAGE_TYPES)}")
    _validate(body, kind)
    user_id, anonymous_id = _identifier(body, "userId"), _identifier(body, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidMessage("missing userId and anonymousId: one of them is required")
    timestamp_ms = _timestamp_ms(body, fallback_timestamp_ms)
    if latest_ms is not None and timestamp_ms > latest_ms:
        ahead = (timestamp_ms - latest_ms) / 1000
        raise InvalidMessage(
            f"timestamp {body.get('timestamp') or body.get('originalTimestamp')} is in the "
            f"future: {ahead:.0f}s beyond the tolerated clock skew (future_tolerance_s)"
        )
    return Message(
        type=kind,
        message_id=body.get("messageId") or _derived_id(raw),
        user_id=user_id,
        anonymous_id=anonymous_id,
        timestamp_ms=timestamp_ms,
        body=body,
    )


def identify_traits(body: dict[str, Any]) -> dict[str, Any]:
    """The traits an identify sets: ``traits``, over ``context.traits`` (where RudderStack's
    SDKs put them)."""
    own = body.get("traits")
    context = body.get("context")
    carried = context.get("traits") if isinstance(context, dict) else None
    if not isinstance(carried, dict) or not carried:
        return own if isinstance(own, dict) else {}
    return {**carried, **own} if isinstance(own, dict) else dict(carried)


def routing_key(body: dict[str, Any]) -> bytes | None:
    """The Kafka key that keeps one person's messages in order on one partition."""
    person = _identifier(body, "userId") or _identifier(body, "anonymousId")
    return person.encode() if person else None


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidMessage(f"not a JSON object: got {type(body).__name__}")
    return body


def _validate(body: dict[str, Any], kind: str) -> None:
    try:
        compile_schema("messages/common.json", f"messages/{kind}.json")(body)
    except JsonSchemaValueException as exc:
        raise InvalidMessage(f"invalid {kind}: {explain(exc)}") from exc


def _identifier(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _timestamp_ms(body: dict[str, Any], fallback_ms: int) -> int:
    stamp = body.get("timestamp") or body.get("originalTimestamp")
    if not stamp:
        return fallback_ms
    try:
        return ms_from_iso(stamp)
    except ValueError as exc:
        raise InvalidMessage(f"invalid timestamp {stamp!r}: {exc}") from exc


def _derived_id(raw: bytes) -> str:
    """Same bytes, same id: a replayed message without messageId is still recognisable."""
    return "tf-" + hashlib.sha256(raw).hexdigest()[:32]
