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

from typing import Any


def render(event: dict[str, Any], destination: str | None = None) -> dict[str, Any]:
    """``event`` for ``destination`` (one the segment names), in that destination's format;
    without a destination, traitflow's own event."""
    routed = (event.get("destinations") or {}).get(destination) if destination else None
    if routed is None:
        return {k: v for k, v in event.items() if k != "destinations"}
    traits: dict[str, Any] = routed["traits"]
    if routed["format"].startswith("segment-") and event["type"] == "audience.merged":
        return _segment_alias(event, traits)
    if routed["format"] == "segment-track":
        return _segment_track(event, traits)
    if routed["format"] == "segment-identify":
        return _segment_identify(event, traits)
    own = {k: v for k, v in event.items() if k != "destinations"}
    return {**own, "destination": destination, "traits": traits}


def _segment_track(event: dict[str, Any], traits: dict[str, Any]) -> dict[str, Any]:
    key, entered = event["segment"], event["type"] == "audience.entered"
    return {
        **_segment_common(event, traits),
        "type": "track",
        "event": "Audience Entered" if entered else "Audience Exited",
        "properties": {"audience_key": key, key: entered, **traits},
    }


def _segment_identify(event: dict[str, Any], traits: dict[str, Any]) -> dict[str, Any]:
    key = event["segment"]
    return {
        **_segment_common(event, traits),
        "type": "identify",
        "traits": {**traits, key: event["type"] == "audience.entered"},
    }


def _segment_alias(event: dict[str, Any], traits: dict[str, Any]) -> dict[str, Any]:
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
