"""Decode and validate one Segment-spec message; every failure names its reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from fastjsonschema import JsonSchemaValueException

from traitflow.config import JUNK_IDS, Settings
from traitflow.exceptions import InvalidMessage
from traitflow.jsonschemas import compile_schema, explain
from traitflow.timeutil import EARLIEST_MS, LATEST_MS, ms_from_iso

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
ID_FIELDS = ("userId", "anonymousId", "previousId")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a message is held to at the core's edge, by the bridge and the worker alike
    (see ``Settings``): whatever one accepts, the other applies."""

    max_depth: int = 32  # nesting of objects and arrays, the message itself being 1
    max_trait_bytes: int = 16 * 1024  # one trait value, encoded
    junk_ids: frozenset[str] = frozenset(JUNK_IDS)  # id values that never name a person

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_nesting_depth,
            max_trait_bytes=settings.max_trait_bytes,
            junk_ids=frozenset(value.strip().lower() for value in settings.identity_junk_ids),
        )

    def usable_id(self, value: Any) -> bool:
        return usable_id(value, self.junk_ids)


DEFAULT_LIMITS = Limits()


def usable_id(value: Any, junk: frozenset[str] | set[str]) -> bool:
    """A string or integer id that is not blank or junk ("null", "undefined", ...)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return False
    text = str(value).strip()
    return bool(text) and text.lower() not in junk


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
    raw: bytes,
    *,
    max_bytes: int,
    fallback_timestamp_ms: int,
    latest_ms: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Message:
    """Validate ``raw``; ``fallback_timestamp_ms`` is used when it carries no timestamp, and
    a timestamp after ``latest_ms`` (now plus the tolerated clock skew) is refused."""
    if len(raw) > max_bytes:
        raise InvalidMessage(
            f"message too large: {len(raw)} bytes, the limit is {max_bytes}", "too_large"
        )
    return check_message(
        _decode(raw),
        fallback_timestamp_ms=fallback_timestamp_ms,
        latest_ms=latest_ms,
        raw=raw,
        limits=limits,
    )


def check_message(
    body: dict[str, Any],
    *,
    fallback_timestamp_ms: int,
    latest_ms: int | None = None,
    raw: bytes = b"",
    limits: Limits = DEFAULT_LIMITS,
) -> Message:
    """Validate an already decoded message; ``raw`` derives the id when it has no messageId."""
    kind = body.get("type")
    if kind not in MESSAGE_TYPES:
        raise InvalidMessage(
            f"unknown type {kind!r}: expected one of {', '.join(MESSAGE_TYPES)}", "unknown_type"
        )
    if not raw or raw.count(b"{") + raw.count(b"[") > limits.max_depth:
        check_depth(body, limits.max_depth)  # else no nesting can be that deep
    _validate(body, kind)
    _check_ids(body)
    user_id, anonymous_id = _identifier(body, "userId"), _identifier(body, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidMessage(
            "missing userId and anonymousId: one of them is required", "no_identifier"
        )
    if not (limits.usable_id(user_id) or limits.usable_id(anonymous_id)):
        raise InvalidMessage(
            f"no usable userId or anonymousId: {user_id or anonymous_id!r} is a junk id "
            "(identity_junk_ids), which never names a person",
            "junk_identifier",
        )
    _check_trait_sizes(body, kind, limits.max_trait_bytes, raw)
    timestamp_ms = _timestamp_ms(body, fallback_timestamp_ms)
    if latest_ms is not None and timestamp_ms > latest_ms:
        ahead = (timestamp_ms - latest_ms) / 1000
        raise InvalidMessage(
            f"timestamp {body.get('timestamp') or body.get('originalTimestamp')} is in the "
            f"future: {ahead:.0f}s beyond the tolerated clock skew (future_tolerance_s)",
            "future_timestamp",
        )
    return Message(
        type=kind,
        message_id=body.get("messageId") or _derived_id(raw),
        user_id=user_id,
        anonymous_id=anonymous_id,
        timestamp_ms=timestamp_ms,
        body=body,
    )


def check_depth(value: Any, max_depth: int) -> None:
    """Refuse objects and arrays nested deeper than ``max_depth`` (the value being 1):
    profiles keep traits two levels down, and orjson writes at most 254 levels."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []  # a scalar: 0 deep
    for depth in range(1, max_depth + 2):
        nested = [
            inner
            for item in level
            for inner in (item.values() if isinstance(item, dict) else item)
            if isinstance(inner, dict | list)
        ]
        if not nested:
            return
        if depth == max_depth:
            raise InvalidMessage(
                f"nested too deep: more than {max_depth} levels of objects and arrays "
                "(max_nesting_depth)",
                "too_deep",
            )
        level = nested


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
        raise InvalidMessage(f"not JSON: {exc}", "not_json") from exc
    if not isinstance(body, dict):
        raise InvalidMessage(f"not a JSON object: got {type(body).__name__}", "not_an_object")
    return body


def _validate(body: dict[str, Any], kind: str) -> None:
    try:
        compile_schema("messages/common.json", f"messages/{kind}.json")(body)
    except JsonSchemaValueException as exc:
        raise InvalidMessage(f"invalid {kind}: {explain(exc)}") from exc


def _check_ids(body: dict[str, Any]) -> None:
    """Ids stay exact: an integer is its decimal text; a float (orjson reads integers
    beyond 64 bits as floats) would make distinct ids one person."""
    for name in ID_FIELDS:
        value = body.get(name)
        if isinstance(value, float):
            raise InvalidMessage(
                f"{name} {value!r} is not an exact id: send ids as strings (or integers "
                "within 64 bits)",
                "inexact_id",
            )


def _check_trait_sizes(body: dict[str, Any], kind: str, limit: int, raw: bytes) -> None:
    if kind not in ("identify", "group") or (raw and len(raw) <= limit):
        return
    traits = identify_traits(body) if kind == "identify" else body.get("traits") or {}
    for name, value in traits.items():
        size = len(orjson.dumps(value))
        if size > limit:
            raise InvalidMessage(
                f"trait {name!r} too large: {size} bytes, the limit is {limit} (max_trait_bytes)",
                "trait_too_large",
            )


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
        found = ms_from_iso(stamp)
    except ValueError as exc:
        raise InvalidMessage(f"invalid timestamp {stamp!r}: {exc}", "invalid_timestamp") from exc
    if not EARLIEST_MS <= found <= LATEST_MS:
        raise InvalidMessage(
            f"timestamp {stamp!r} is outside 1970-01-01 to 9999-12-31 (UTC)", "invalid_timestamp"
        )
    return found


def _derived_id(raw: bytes) -> str:
    """Same bytes, same id: a replayed message without messageId is still recognisable."""
    return "tf-" + hashlib.sha256(raw).hexdigest()[:32]
