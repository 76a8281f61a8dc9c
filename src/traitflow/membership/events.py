"""``audience.entered`` / ``audience.exited`` events (schema: ``schemas/membership-event.json``).

The id is derived from (person, segment, version): reprocessing the same input after a crash
produces the same transition and so the same id, which lets consumers drop repeats.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

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

    def as_dict(self) -> dict[str, str]:
        found = {
            "kind": self.kind,
            "message_id": self.message_id,
            "message_type": self.message_type,
        }
        if self.condition is not None:
            found["condition"] = self.condition
        return found


@dataclass(frozen=True, slots=True)
class Transition:
    segment: str
    entered: bool
    version: int
    at_ms: int


def event_id(person: str, segment: str, version: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{person}\x1f{segment}\x1f{version}"))


def membership_event(
    profile: Profile,
    transition: Transition,
    cause: Cause,
    destinations: tuple[Destination, ...] = (),
) -> dict[str, Any]:
    """The event, with each destination's mapped traits as the profile holds them now."""
    event: dict[str, Any] = {
        "id": event_id(profile.person, transition.segment, transition.version),
        "type": "audience.entered" if transition.entered else "audience.exited",
        "segment": transition.segment,
        "person": profile.person,
        "user_id": profile.user_id,
        "anonymous_id": profile.anonymous_id,
        "version": transition.version,
        "at": iso_from_ms(transition.at_ms),
        "cause": cause.as_dict(),
    }
    if destinations:
        event["destinations"] = {
            d.name: {"kind": d.kind, "format": d.format, "traits": d.mapped(profile.traits)}
            for d in destinations
        }
    return event
