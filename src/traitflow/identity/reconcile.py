"""Membership events when two profiles become one.

For each segment, with ``survivor`` and ``absorbed`` as they were and ``merged`` decided
again on everything both knew:

- the survivor's own transitions are published (``cause.kind: merge``), except an
  ``entered`` where the absorbed id was already a member: that person did not enter;
- each membership of the absorbed id ends: with ``audience.merged`` (pointing at the
  survivor) where the merged person is a member, with ``audience.exited`` where not.

So nobody gets a second ``entered`` for a membership they had under either id, and no
``exited`` is sent for a person who is still a member.
"""

from __future__ import annotations

from typing import Any

from traitflow.membership import Cause, Transition, membership_event
from traitflow.membership.events import merged_event
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.engine import decide


def reconcile(
    survivor: Profile, absorbed: Profile, merged: Profile, registry: Registry, now_ms: int
) -> list[dict[str, Any]]:
    """Decide ``merged`` on every live segment (it is changed) and return the events."""
    at = max(now_ms, merged.last_seen_ms)
    cause = Cause(
        f"merge-{absorbed.person}-into-{survivor.person}",
        "merge",
        kind="merge",
        merged=(survivor.person, absorbed.person),
    )
    merged.definitions_version = -1  # every live segment is decided again
    events = []
    for transition in decide(merged, registry, set(), at, at):
        if transition.entered and absorbed.is_member(transition.segment):
            continue  # announced by the absorbed id's audience.merged below
        definition = registry.segments.get(transition.segment)
        events.append(membership_event(merged, transition, cause, definition))
    for key, membership in sorted(absorbed.memberships.items()):
        if not membership.member or registry.get(key) is None:
            continue
        version = membership.version + 1
        definition = registry.segments.get(key)
        if merged.is_member(key):
            events.append(merged_event(absorbed, key, version, merged, cause, at, definition))
        else:
            ended = Transition(key, False, version, at)
            events.append(membership_event(absorbed, ended, cause, definition))
    return events
