"""From a request body to Kafka records, by the Segment Tracking API's rules (no I/O).

Every message is checked with the same validation the worker applies, so what the bridge
accepts the worker will not dead-letter; each rejected message is reported by its index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from traitflow.bridge.refusals import RequestRefused
from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import (
    DEFAULT_LIMITS,
    MESSAGE_TYPES,
    Limits,
    check_message,
    routing_key,
)
from traitflow.privacy.suppressions import Suppressions
from traitflow.timeutil import iso_from_ms, ms_from_iso

BATCH_ENDPOINTS = ("batch", "import")
SHARED_FIELDS = ("context", "integrations")


MessageRecord = tuple[bytes | None, bytes]  # (routing key, message): a value always


@dataclass(frozen=True, slots=True)
class Rules:
    """The limits and clock every message is held to."""

    max_message_bytes: int
    max_batch: int
    future_tolerance_ms: int
    limits: Limits = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    reason: str


@dataclass
class Intake:
    """What one request yields: records to publish, and the messages refused."""

    records: list[MessageRecord] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    suppressed: int = 0  # valid, accepted, and dropped: they name a suppressed id

    @property
    def accepted(self) -> int:
        return len(self.records) + self.suppressed

    @property
    def total(self) -> int:
        return self.accepted + len(self.rejected)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a request adds to each of its messages."""

    received_ms: int
    source: str | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    sent_at: str | None = None


def decode_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestRefused(400, "not_json", f"the body is not JSON: {exc}") from exc


def tracking_messages(
    endpoint: str, body: Any, rules: Rules, envelope: Envelope
) -> tuple[list[Any], Envelope]:
    """The messages of a ``/v1/<endpoint>`` body, and the envelope with what a batch shares."""
    if not isinstance(body, dict):
        raise RequestRefused(400, "not_an_object", "the body must be a JSON object")
    if endpoint in MESSAGE_TYPES:
        return [{**body, "type": endpoint}], envelope
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise RequestRefused(400, "no_batch", "a batch body needs `batch`: a list of messages")
    _refuse_long_batch(len(batch), rules.max_batch)
    shared = {name: body[name] for name in SHARED_FIELDS if isinstance(body.get(name), dict)}
    sent_at = body.get("sentAt") if isinstance(body.get("sentAt"), str) else None
    return batch, replace(envelope, shared=shared, sent_at=sent_at)


def webhook_messages(body: Any, rules: Rules) -> list[Any]:
    """A webhook delivers one message, or a batch as a JSON array."""
    if isinstance(body, list):
        _refuse_long_batch(len(body), rules.max_batch)
        return body
    if isinstance(body, dict):
        return [body]
    raise RequestRefused(400, "not_an_object", "the body must be a JSON object or array")


def take_in(
    items: list[Any], envelope: Envelope, rules: Rules, suppressions: Suppressions | None = None
) -> Intake:
    """Prepare every message; one bad message never refuses its neighbours. A valid one
    naming a suppressed id is accepted and dropped, as Segment does."""
    intake = Intake()
    for index, item in enumerate(items):
        try:
            record = prepare(item, envelope, rules)
        except InvalidMessage as exc:
            intake.rejected.append(Rejection(index, exc.reason))
            continue
        if suppressions is not None and suppressions.covers_message(item):
            intake.suppressed += 1
        else:
            intake.records.append(record)
    return intake


def prepare(item: Any, envelope: Envelope, rules: Rules) -> MessageRecord:
    """One message as the Kafka record the worker reads: keyed by person, enriched."""
    if not isinstance(item, dict):
        raise InvalidMessage(f"not a JSON object: got {type(item).__name__}")
    message = {name: value for name, value in item.items() if name != "writeKey"}
    _merge_shared(message, envelope)
    _stamp_times(message, envelope)
    check_message(  # nesting included: ``item`` is no deeper than ``message``
        message,
        fallback_timestamp_ms=envelope.received_ms,
        latest_ms=envelope.received_ms + rules.future_tolerance_ms,
        limits=rules.limits,
    )
    message.setdefault("messageId", _derived_id(item))  # encodable: its depth is checked
    raw = orjson.dumps(message)
    if len(raw) > rules.max_message_bytes:
        raise InvalidMessage(
            f"message too large: {len(raw)} bytes, the limit is {rules.max_message_bytes}",
            "too_large",
        )
    return routing_key(message), raw


def _refuse_long_batch(count: int, limit: int) -> None:
    if count > limit:
        raise RequestRefused(
            413, "batch_too_long", f"{count} messages in one batch; the limit is {limit}"
        )


def _merge_shared(message: dict[str, Any], envelope: Envelope) -> None:
    """Batch-level context/integrations are defaults; the message's own keys win."""
    for name, defaults in envelope.shared.items():
        own = message.get(name)
        message[name] = {**defaults, **own} if isinstance(own, dict) else dict(defaults)
    if envelope.source is not None:
        context = message.get("context")
        context = dict(context) if isinstance(context, dict) else {}
        context["source"] = {"name": envelope.source}
        message["context"] = context


def _stamp_times(message: dict[str, Any], envelope: Envelope) -> None:
    """Segment's rule: ``timestamp = receivedAt - (sentAt - originalTimestamp)``.

    A client's ``timestamp`` is its original timestamp; without ``sentAt`` it is kept as
    sent, and without either the message is dated when it was received.
    """
    received = message.setdefault("receivedAt", iso_from_ms(envelope.received_ms))
    original = message.get("originalTimestamp", message.get("timestamp"))
    sent = message.get("sentAt", envelope.sent_at)
    if original is None:
        message["timestamp"] = received
        return
    message["originalTimestamp"] = original
    if sent is not None:
        skew = _ms(sent, "sentAt") - _ms(original, "originalTimestamp")
        message["timestamp"] = _iso(_ms(received, "receivedAt") - skew)
    else:
        message["timestamp"] = original


def _ms(stamp: Any, name: str) -> int:
    try:
        return ms_from_iso(stamp)
    except (TypeError, ValueError):
        raise InvalidMessage(f"{name} is not an ISO-8601 date-time: {stamp!r}") from None


def _iso(ms: int) -> str:
    try:
        return iso_from_ms(ms)
    except (ValueError, OverflowError, OSError):
        raise InvalidMessage(
            "receivedAt - (sentAt - originalTimestamp) falls outside years 1-9999"
        ) from None


def _derived_id(item: dict[str, Any]) -> str:
    """The same message sent twice without a messageId gets the same id."""
    canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    return "tf-" + hashlib.sha256(canonical).hexdigest()[:32]
