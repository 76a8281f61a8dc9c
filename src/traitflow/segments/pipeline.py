"""One message applied to one profile: the pure step every Faust agent runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traitflow.ingest.messages import Message
from traitflow.membership import Cause, membership_event
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.engine import apply_message, decide


@dataclass(slots=True)
class Outcome:
    profile: Profile
    events: list[dict[str, Any]] = field(default_factory=list)


def process(
    profile: Profile | None,
    message: Message,
    registry: Registry,
    unset_marker: str,
    now_ms: int,
    new: Profile | None = None,
) -> Outcome:
    """Apply ``message`` to ``profile`` (None for a new person: ``new``, empty) and decide
    memberships at ``now_ms`` (the worker's clock; never before the person's latest
    event)."""
    profile, changed = apply_message(profile, message, registry, unset_marker, now_ms, new)
    transitions = decide(profile, registry, changed, now_ms, message.timestamp_ms)
    cause = Cause(message.message_id, message.type)
    events = [
        membership_event(profile, t, cause, registry.segments.get(t.segment)) for t in transitions
    ]
    return Outcome(profile, events)
