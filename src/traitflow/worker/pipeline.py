"""One message applied to one profile: the pure step every Faust agent runs.

Only segments that can be affected are evaluated: those reading a changed trait, and
those the profile has not been evaluated against in their current revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traitflow.ingest.messages import Message
from traitflow.membership import Cause, Transition, membership_event
from traitflow.profiles import Membership, Profile, apply_traits
from traitflow.segments import Registry, Segment


@dataclass(slots=True)
class Outcome:
    profile: Profile
    events: list[dict[str, Any]] = field(default_factory=list)


def process(
    profile: Profile | None, message: Message, registry: Registry, unset_marker: str
) -> Outcome:
    """Apply ``message`` to ``profile`` (None for a new person) and decide memberships."""
    profile = profile or Profile(person=message.person)
    profile.seen(message.timestamp_ms, message.user_id, message.anonymous_id)
    changed: set[str] = set()
    if message.type == "identify":
        traits = message.body.get("traits") or {}
        changed = apply_traits(profile, traits, message.timestamp_ms, unset_marker)
    cause = Cause(message.message_id, message.type)
    transitions = evaluate(profile, _affected(profile, registry, changed), message.timestamp_ms)
    return Outcome(profile, [membership_event(profile, t, cause) for t in transitions])


def evaluate(profile: Profile, segments: list[Segment], at_ms: int) -> list[Transition]:
    """Re-decide ``segments`` for ``profile``; record and return the flips."""
    transitions = []
    for segment in segments:
        member = segment.condition.matches(profile.traits)
        current = profile.memberships.get(segment.key)
        if current is not None and current.member == member:
            current.rev = segment.rev
        elif current is None and not member:
            profile.memberships[segment.key] = Membership(False, 0, at_ms, segment.rev)
        else:
            version = (current.version if current else 0) + 1
            profile.memberships[segment.key] = Membership(member, version, at_ms, segment.rev)
            transitions.append(Transition(segment.key, member, version, at_ms))
    return transitions


def _affected(profile: Profile, registry: Registry, changed: set[str]) -> list[Segment]:
    affected = {segment.key: segment for segment in registry.reading(changed)}
    for segment in registry.all():
        if _stale(profile.memberships.get(segment.key), segment):
            affected[segment.key] = segment
    return [affected[key] for key in sorted(affected)]


def _stale(membership: Membership | None, segment: Segment) -> bool:
    return membership is None or membership.rev != segment.rev
