"""A stored profile re-decided outside of any message: when time passes (``timers``) or
definitions change (``backfill``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from traitflow.membership import Cause, Transition, membership_event
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.worker.batch import Outbox
from traitflow.worker.store.profiles import ProfileStore

log = logging.getLogger(__name__)


async def re_decide(
    store: ProfileStore,
    outbox: Outbox,
    person: bytes,
    partition: int,
    decide: Callable[[Profile], list[tuple[Transition, Cause]]],
    registry: Registry,
) -> bool:
    """Re-decide one stored profile outside of any message (backfill, time): publish its
    flips through the batch's outbox, then save it (written once they are acknowledged).
    An unreadable profile is logged and skipped, never blocking. False when there was no
    profile to decide (none, or none readable)."""
    try:
        profile = store.load(person)
        if profile is None:
            return False
        previous_due = profile.next_due_ms()
        flips = decide(profile)
    except Exception:  # the log names no person: the key is personal data
        log.exception("skipped an unreadable profile (%d-byte key)", len(person))
        return False
    events = [membership_event(profile, t, c, registry.segments.get(t.segment)) for t, c in flips]
    await outbox.publish_transitions(partition, events)
    store.save(person, profile, previous_due)
    return True
