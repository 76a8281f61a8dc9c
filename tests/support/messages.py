"""One factory for the Segment-spec messages tests send: a dict, its JSON bytes, or the
``Message`` the worker would parse from them."""

from __future__ import annotations

from typing import Any

import orjson

from traitflow.ingest.messages import Message, parse_message
from traitflow.timeutil import iso_from_ms

AT = "2026-11-23T08:00:00Z"  # a fixed instant: tests keep the clock at TEST_NOW_MS


def message(
    kind: str | None, at: str | int | None = AT, message_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """``type`` (unless None), ``timestamp`` (ISO text, or epoch milliseconds; none if
    None), ``messageId`` when given, then ``fields`` (``userId``, ``traits``, ...)."""
    body: dict[str, Any] = {} if kind is None else {"type": kind}
    if at is not None:
        body["timestamp"] = at if isinstance(at, str) else iso_from_ms(at)
    if message_id is not None:
        body["messageId"] = message_id
    return {**body, **fields}


def encoded(kind: str | None, at: str | int | None = AT, message_id: str | None = None,
            **fields: Any) -> bytes:  # fmt: skip
    return orjson.dumps(message(kind, at, message_id, **fields))


def parsed(kind: str | None, at: str | int | None = AT, message_id: str | None = None,
           **fields: Any) -> Message:  # fmt: skip
    """As the worker parses it (validated, timestamp in milliseconds)."""
    raw = encoded(kind, at, message_id, **fields)
    return parse_message(raw, max_bytes=10_000, fallback_timestamp_ms=0)
