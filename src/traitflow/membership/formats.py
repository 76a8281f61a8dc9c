"""A membership event in the shape its destination reads.

- ``traitflow``: the event itself (``schemas/membership-event.json``), with the
  destination's mapped traits as ``traits``.
- ``segment-track``: Segment Engage's ``Audience Entered`` / ``Audience Exited`` track call.
- ``segment-identify``: Segment Engage's identify with ``{<audience_key>: true|false}``.

Both Segment shapes carry ``context.personas`` and use the event id as ``messageId``, so a
repeated event stays recognisable downstream. An ``audience.merged`` event (two ids found
to be one member) becomes, in both, Segment's ``alias`` from the absorbed id to the
surviving one: the member stays, under the surviving id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Shape = Callable[[dict[str, Any], str, dict[str, Any]], dict[str, Any]]  # event, dest, traits


@dataclass(frozen=True, slots=True)
class Format:
    """How a destination reads membership: ``change`` for entered and exited, ``merge``
    for ``audience.merged`` (``change`` too, if None)."""

    change: Shape
    merge: Shape | None = None


def render(event: dict[str, Any], destination: str | None = None) -> dict[str, Any]:
    """``event`` for ``destination`` (one the segment names), in that destination's format;
    without a destination, traitflow's own event."""
    routed = (event.get("destinations") or {}).get(destination) if destination else None
    if routed is None or destination is None:
        return _own(event)
    shape = FORMATS.get(routed["format"], FORMATS["traitflow"])
    chosen = shape.merge if event["type"] == "audience.merged" and shape.merge else shape.change
    return chosen(event, destination, routed["traits"])


def _own(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "destinations"}


def _traitflow(event: dict[str, Any], destination: str, traits: dict[str, Any]) -> dict[str, Any]:
    return {**_own(event), "destination": destination, "traits": traits}


def _segment_track(event: dict[str, Any], _: str, traits: dict[str, Any]) -> dict[str, Any]:
    key, entered = event["segment"], event["type"] == "audience.entered"
    return {
        **_segment_common(event, traits),
        "type": "track",
        "event": "Audience Entered" if entered else "Audience Exited",
        "properties": {"audience_key": key, key: entered, **traits},
    }


def _segment_identify(event: dict[str, Any], _: str, traits: dict[str, Any]) -> dict[str, Any]:
    key = event["segment"]
    return {
        **_segment_common(event, traits),
        "type": "identify",
        "traits": {**traits, key: event["type"] == "audience.entered"},
    }


def _segment_alias(event: dict[str, Any], _: str, traits: dict[str, Any]) -> dict[str, Any]:
    survivor = event["merged_into"]
    common = _segment_common(event, traits)
    common.pop("anonymousId", None)
    previous = event.get("user_id") or event.get("anonymous_id") or event["person"]
    return {
        **common,
        "type": "alias",
        "previousId": previous,
        "userId": survivor.get("user_id") or survivor["person"],
    }


def _segment_common(event: dict[str, Any], traits: dict[str, Any]) -> dict[str, Any]:
    key = event["segment"]
    common: dict[str, Any] = {
        "messageId": event["id"],
        "timestamp": event["at"],
        "context": {
            "personas": {
                "computation_class": "audience",
                "computation_id": key,
                "computation_key": key,
                "space_id": "traitflow",
            },
            "traits": traits,
        },
    }
    if event.get("user_id"):
        common["userId"] = event["user_id"]
    if event.get("anonymous_id"):
        common["anonymousId"] = event["anonymous_id"]
    return common


FORMATS: dict[str, Format] = {
    "traitflow": Format(_traitflow),
    "segment-track": Format(_segment_track, merge=_segment_alias),
    "segment-identify": Format(_segment_identify, merge=_segment_alias),
}  # the names a definition's ``format`` may take (``schemas/segment.json`` agrees)
