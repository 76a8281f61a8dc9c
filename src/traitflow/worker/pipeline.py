"""One message applied to one profile: the pure step every Faust agent runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traitflow.ingest.messages import Message
from traitflow.membership import Cause, membership_event
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.engine import absorb, decide


@dataclass(slots=True)
class Outcome:
    profile: Profile
    events: list[dict[str, Any]] = field(default_factory=list)


def process(
    profile: Profile | None, message: Message, registry: Registry, unset_marker: str
) -> Outcome:
    """Apply ``message`` to ``profile`` (None for a new person) and decide memberships."""
    profile, changed = absorb(profile, message, registry, unset_marker)
    transitions = decide(profile, registry, changed, message.timestamp_ms)
    cause = Cause(message.message_id, message.type)
    return Outcome(profile, [membership_event(profile, t, cause) for t in transitions])
