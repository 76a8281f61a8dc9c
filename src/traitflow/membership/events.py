"""``audience.entered`` / ``audience.exited`` events (schema: ``schemas/membership-event.json``).

The id is derived from (person, segment, version): reprocessing the same input after a crash
produces the same transition and so the same id, which lets consumers drop repeats.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from traitflow.membership.destinations import Destination
from traitflow.profiles import Profile
from traitflow.timeutil import iso_from_ms

_NAMESPACE = uuid.UUID("6f1b7a52-3c1e-4c3e-9a55-7a1f0e2b9c10")


@dataclass(frozen=True, slots=True)
class Cause:
    """What made the answer flip: a message, a backfill, or time passing (``condition``
    is then the leaf whose boundary was crossed)."""

    message_id: str
    message_type: str
    kind: str = "message"
    condition: str | None = None
    merged: tuple[str, str] | None = None  # with kind merge: (survivor, absorbed)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind,
            "message_id": self.message_id,
            "message_type": self.message_type,
        }
        if self.condition is not None:
            found["condition"] = self.condition
        if self.merged is not None:
            found["merged"] = {"into": self.merged[0], "from": self.merged[1]}
        return found


@dataclass(frozen=True, slots=True)
class Transition:
    segment: str
    entered: bool
    version: int
    at_ms: int
    cause_kind: str | None = None  # overrides the cause's (``segment_deleted``)


class Definition(Protocol):
    """The segment definition that decided a transition, as its event names it."""

    @property
    def rev(self) -> str: ...

    @property
    def destinations(self) -> tuple[Destination, ...]: ...


def event_id(person: str, segment: str, version: int) -> str:
    """``uuid.uuid5`` of the three, written out directly (UUID objects cost a third of it)."""
    name = f"{person}\x1f{segment}\x1f{version}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE.bytes + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def membership_event(
    profile: Profile,
    transition: Transition,
    cause: Cause,
    definition: Definition | None = None,
) -> dict[str, Any]:
    """The event, with the revision of the definition that decided it (none once the
    segment is deleted) and each destination's traits as the profile holds them now."""
    because = cause.as_dict()
    if transition.cause_kind is not None:
        because["kind"] = transition.cause_kind
    event: dict[str, Any] = {
        "id": event_id(profile.person, transition.segment, transition.version),
        "type": "audience.entered" if transition.entered else "audience.exited",
        "segment": transition.segment,
        "person": profile.person,
        "user_id": profile.user_id,
        "anonymous_id": profile.anonymous_id,
        "version": transition.version,
        "at": iso_from_ms(transition.at_ms),
        "cause": because,
    }
    if definition is not None:
        event["revision"] = definition.rev
        if definition.destinations:
            event["destinations"] = _destinations(definition.destinations, profile)
    return event


def merged_event(
    absorbed: Profile,
    segment: str,
    version: int,
    survivor: Profile,
    cause: Cause,
    at_ms: int,
    definition: Definition | None = None,
) -> dict[str, Any]:
    """``audience.merged``: the absorbed id's membership ends because its person is now
    ``survivor``, who is a member: consumers move the member, nobody exited or entered."""
    membership = survivor.memberships[segment]
    event: dict[str, Any] = {
        "id": event_id(absorbed.person, segment, version),
        "type": "audience.merged",
        "segment": segment,
        "person": absorbed.person,
        "user_id": absorbed.user_id,
        "anonymous_id": absorbed.anonymous_id,
        "version": version,
        "at": iso_from_ms(at_ms),
        "cause": cause.as_dict(),
        "merged_into": {
            "person": survivor.person,
            "user_id": survivor.user_id,
            "anonymous_id": survivor.anonymous_id,
            "version": membership.version,
        },
    }
    if definition is not None:
        event["revision"] = definition.rev
        if definition.destinations:
            event["destinations"] = _destinations(definition.destinations, survivor)
    return event


def _destinations(destinations: tuple[Destination, ...], profile: Profile) -> dict[str, Any]:
    return {
        d.name: {"kind": d.kind, "format": d.format, "traits": d.mapped(profile.traits)}
        for d in destinations
    }


EVENT_TYPES = frozenset({"audience.entered", "audience.exited"})


def read_membership_event(raw: bytes | None) -> dict[str, Any] | None:
    """A record of the membership topic as the event it carries; None for anything else
    (the topic is open to any producer with write access: readers skip, never stop)."""
    if raw is None:
        return None
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        return None
    fields_ok = isinstance(event.get("segment"), str) and isinstance(event.get("at"), str)
    version = event.get("version")
    cause = event.get("cause", {})
    if not fields_ok or type(version) is not int or not isinstance(cause, dict):
        return None
    return event
