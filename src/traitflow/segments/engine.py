"""Incremental evaluation: one message updates one profile and re-decides only what it can.

Re-evaluated are the segments that read something the message changed (dependency index),
the segments defined or redefined since the profile was last evaluated, the segments whose
answer was due to flip with time by now, and, transitively, segments referring to any of
those that flipped. A new person is evaluated against every segment once.
"""

from __future__ import annotations

import heapq
from typing import Any

from traitflow.ingest.messages import Message, identify_traits
from traitflow.membership.events import Transition
from traitflow.profiles import Membership, Profile, apply_traits, join_import, observe
from traitflow.segments.conditions import Dep, Explanation, Flip
from traitflow.segments.features import (
    AggregateFeature,
    CountFeature,
    RecentFeature,
    TimesFeature,
)
from traitflow.segments.matchers import MISSING, event_name
from traitflow.segments.registry import Registry

MAX_INSTANTS_PER_ADVANCE = 1_000


class ProfileContext:
    """The ``Context`` conditions read: one profile at the person's current clock."""

    def __init__(self, profile: Profile, registry: Registry, now_ms: int) -> None:
        self.profile = profile
        self.registry = registry
        self.now_ms = max(now_ms, profile.last_seen_ms)
        self._computed: dict[str, Any] = {}  # computed traits read so far (several
        # segments often compare one; nothing changes the features while deciding)
        self.memo: dict[int, Any] = {}

    def trait(self, path: tuple[str, ...]) -> Any:
        value: Any = self.profile.derived if path[0].startswith("$") else self.profile.traits
        for name in path:
            if not isinstance(value, dict) or name not in value:
                return MISSING
            value = value[name]
        return value

    def count(self, feature: CountFeature | AggregateFeature) -> int:
        state = self.profile.features.get(feature.id)
        if isinstance(feature, AggregateFeature):  # an offset window's buckets
            return int(feature.value(state, self.now_ms))
        return feature.count(state, self.now_ms)

    def count_expiries(self, feature: CountFeature | AggregateFeature) -> list[int]:
        return feature.expiries(self.profile.features.get(feature.id), self.now_ms)

    def recent(self, feature: RecentFeature) -> list[int]:
        return list(self.profile.features.get(feature.id) or [])

    def times(self, feature: TimesFeature) -> tuple[int, int] | None:
        state = self.profile.features.get(feature.id)
        return (int(state[0]), int(state[1])) if state else None

    def computed(self, key: str) -> Any:
        if key in self._computed:
            return self._computed[key]
        trait = self.registry.computed.get(key)
        value = (
            MISSING
            if trait is None
            else trait.feature.value(self.profile.features.get(trait.feature.id), self.now_ms)
        )
        self._computed[key] = value
        return value

    def computed_expiries(self, key: str) -> list[int]:
        trait = self.registry.computed.get(key)
        if trait is None:
            return []
        return trait.feature.expiries(self.profile.features.get(trait.feature.id), self.now_ms)

    def member(self, segment: str) -> bool:
        return self.profile.is_member(segment)

    def segment_flips(self, segment: str) -> list[Flip]:
        due = self.profile.due.get(segment)
        return [] if due is None else [(due[0], f"segment {segment}: {due[1]}")]

    def in_import(self, name: str) -> bool:
        return name in self.profile.imports


def apply_message(
    profile: Profile | None,
    message: Message,
    registry: Registry,
    unset_marker: str,
    now_ms: int,
    new: Profile | None = None,
) -> tuple[Profile, set[Dep]]:
    """Apply a message's facts to the profile (``new``, else one keyed by the message's
    person, if None); return what changed."""
    fresh = profile is None
    profile = profile or new or Profile(person=message.person)
    body, at = message.body, message.timestamp_ms
    changed = observe(profile, body, at, message.user_id, message.anonymous_id)
    if message.type == "identify":
        changed |= apply_traits(profile, identify_traits(body), at, unset_marker)
        imported = join_import(profile, body)
        deps: set[Dep] = {("import", imported)} if imported else set()
    else:
        deps = set()
    for name in changed:
        deps.add(("trait", name))
    deps |= _update_features(profile, message, registry, max(now_ms, profile.last_seen_ms))
    if fresh:
        deps.add(("new", ""))
    return profile, deps


def decide(
    profile: Profile, registry: Registry, deps: set[Dep], now_ms: int, at_ms: int
) -> list[Transition]:
    """Re-evaluate, at instant ``now_ms``, what ``deps`` and time can have changed; record
    and return the flips, dated ``at_ms``."""
    paused = registry.paused.segments
    pending = _candidates(profile, registry, deps, max(now_ms, profile.last_seen_ms))
    if paused:
        pending -= paused
    transitions = (
        []  # decided under these very definitions last time: none was deleted since
        if profile.definitions_version == registry.version
        else _forget_deleted(profile, registry, at_ms)
    )
    profile.definitions_version = registry.version
    if not pending:
        return transitions
    ctx = ProfileContext(profile, registry, now_ms)
    queue = [(registry.rank(key), key) for key in pending]
    heapq.heapify(queue)
    queued = set(pending)
    while queue:
        _, key = heapq.heappop(queue)
        transition = _evaluate(profile, registry, ctx, key, at_ms)
        if transition is None:
            continue
        transitions.append(transition)
        for dependent in registry.dependents(key) - queued:
            if dependent in paused:
                continue
            queued.add(dependent)
            heapq.heappush(queue, (registry.rank(dependent), dependent))
    return transitions


def advance(profile: Profile, registry: Registry, now_ms: int) -> list[tuple[Transition, str]]:
    """Process every instant due by ``now_ms``, oldest first, each evaluated at its own
    instant; return the flips with the condition whose boundary was crossed."""
    flips: list[tuple[Transition, str]] = []
    for _ in range(MAX_INSTANTS_PER_ADVANCE):
        paused = registry.paused.segments
        due = [
            (t, reason, key)
            for key, (t, reason) in profile.due.items()
            if t <= now_ms and key not in paused
        ]
        if not due:
            break
        instant = min(t for t, _, _ in due)
        reasons = {key: reason for t, reason, key in due if t == instant}
        for transition in decide(profile, registry, set(), instant, instant):
            flips.append((transition, reasons.get(transition.segment, "a referenced segment")))
    return flips


def explain(profile: Profile, registry: Registry, segment: str, now_ms: int) -> Explanation:
    definition = registry.segments[segment]
    return definition.condition.explain(ProfileContext(profile, registry, now_ms))


def _update_features(
    profile: Profile, message: Message, registry: Registry, now_ms: int
) -> set[Dep]:
    touched = count_event(profile, message, registry, now_ms, skip=registry.paused.features)
    if profile.features:
        for stale in registry.dead_features(profile.features):
            del profile.features[stale]
    return touched


def count_event(
    profile: Profile,
    message: Message,
    registry: Registry,
    now_ms: int,
    skip: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> set[Dep]:
    """Update the features the message matches (``only`` these, if given; not ``skip``);
    return them as dependencies."""
    touched: set[Dep] = set()
    for feature in registry.features(message.type, event_name(message.body)):
        if feature.id in skip or (only is not None and feature.id not in only):
            continue
        if feature.matcher.filters and not feature.matcher.passes(message.body, now_ms):
            continue  # (the index matched its type and name)
        state = profile.features.get(feature.id)
        if isinstance(feature, AggregateFeature):
            profile.features[feature.id] = feature.update(state, message.timestamp_ms, message.body)
        else:
            profile.features[feature.id] = feature.update(state, message.timestamp_ms)
        touched.add(("feature", feature.id))
    return touched


def _candidates(profile: Profile, registry: Registry, deps: set[Dep], now_ms: int) -> set[str]:
    found = registry.affected(deps)
    if ("new", "") in deps:
        return found | vacuous_segments(registry)
    found |= registry.changed_since(profile.definitions_version)
    return found | {key for key, (due, _) in profile.due.items() if due <= now_ms}


def vacuous_segments(registry: Registry) -> set[str]:
    """Segments an empty profile belongs to, at any instant.

    A new person differs from an empty profile only in what their first message changed,
    so beyond the segments reading that, only these can hold: evaluating every segment for
    every new person would make a first message cost grow with unrelated segments.
    """
    cached = registry.memo.get("vacuous")
    if isinstance(cached, set):
        return cached
    empty = Profile(person="")
    ctx = ProfileContext(empty, registry, 0)
    found: set[str] = set()
    for key in sorted(registry.segments, key=lambda k: (registry.rank(k), k)):
        if registry.segments[key].condition.matches(ctx):
            found.add(key)
            empty.memberships[key] = Membership(True, 1, 0)
    registry.memo["vacuous"] = found
    return found


def _forget_deleted(profile: Profile, registry: Registry, at_ms: int) -> list[Transition]:
    """Forget the segments deleted since; their members exit (cause ``segment_deleted``).
    A segment whose definition cannot be read is not deleted: its members are held."""
    exits = []
    held = registry.unreadable
    for key in [k for k in profile.memberships if k not in registry.segments and k not in held]:
        membership = profile.memberships.pop(key)
        if membership.member:
            exits.append(Transition(key, False, membership.version + 1, at_ms, "segment_deleted"))
    for key in [key for key in profile.due if key not in registry.segments and key not in held]:
        del profile.due[key]
    return exits


def _evaluate(
    profile: Profile, registry: Registry, ctx: ProfileContext, key: str, at_ms: int
) -> Transition | None:
    condition = registry.segments[key].condition
    member = condition.matches(ctx)
    flip = condition.next_flip(ctx)
    if flip is not None and flip[0] > ctx.now_ms:
        profile.due[key] = flip
    else:
        profile.due.pop(key, None)
    current = profile.memberships.get(key)
    if member == (current is not None and current.member):
        return None
    version = (current.version if current else 0) + 1
    profile.memberships[key] = Membership(member, version, at_ms)
    return Transition(key, member, version, at_ms)
