"""The reference evaluator: memberships recomputed from a person's full message history.

Deliberately naive (no feature state, no dependency index, no due instants, every segment
at every message), it is the specification the incremental engine is tested against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from traitflow.ingest.messages import Message, identify_traits
from traitflow.profiles import Profile, apply_traits, join_import, observe
from traitflow.segments.engine import ProfileContext
from traitflow.segments.features import (
    BUCKETS,
    AggregateFeature,
    CountFeature,
    RecentFeature,
    TimesFeature,
    accumulate,
    finish,
)
from traitflow.segments.matchers import MISSING, property_value
from traitflow.segments.registry import Feature, Registry

Flip = tuple[int, str, str, bool]  # (message index, person, segment, entered)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A message and the person's clock when it arrived (property filters read that clock)."""

    message: Message
    now_ms: int


class HistoryContext(ProfileContext):
    """Answers event questions by scanning the history instead of reading feature state."""

    def __init__(
        self, profile: Profile, registry: Registry, history: list[Arrival], now_ms: int
    ) -> None:
        super().__init__(profile, registry, now_ms)
        self.history = history
        self.members: dict[str, bool] = {}

    def count(self, feature: CountFeature | AggregateFeature) -> int:
        if isinstance(feature, AggregateFeature):
            return int(self._aggregate(feature))
        window = feature.window
        times = [a.message.timestamp_ms for a in self._matching(feature)]
        if window.last_ms is not None:
            return sum(1 for t in times if t <= self.now_ms < t + window.last_ms)
        if window.start_ms is not None:
            return sum(1 for t in times if window.start_ms <= t <= (window.end_ms or t))
        return len(times)

    def recent(self, feature: RecentFeature) -> list[int]:
        done = {a.message.timestamp_ms for a in self._matching(feature)}
        return sorted(done, reverse=True)[: feature.keep]

    def times(self, feature: TimesFeature) -> tuple[int, int] | None:
        done = [a.message.timestamp_ms for a in self._matching(feature)]
        return (min(done), max(done)) if done else None

    def computed(self, key: str) -> Any:
        trait = self.registry.computed.get(key)
        if trait is None:
            return MISSING
        return self._aggregate(trait.feature)

    def _aggregate(self, feature: AggregateFeature) -> Any:
        if feature.sessions:
            return _sessions(feature, sorted(
                a.message.timestamp_ms for a in self._matching(feature)
                if _counts_in_aggregate(feature, a.message, self.now_ms)
            ))  # fmt: skip
        accs = [
            accumulate(None, a.message.timestamp_ms, _value(feature, a.message))
            for a in self._matching(feature)
            if _counts_in_aggregate(feature, a.message, self.now_ms)
        ]
        return finish(feature.aggregate, accs)

    def member(self, segment: str) -> bool:
        return self.members.get(segment, False)

    def _matching(self, feature: Feature) -> list[Arrival]:
        return [a for a in self.history if feature.matcher.matches(a.message.body, a.now_ms)]


def reference_flips(
    messages: list[Message], nows: list[int], registry: Registry, unset_marker: str
) -> list[Flip]:
    """Every membership transition, recomputing the affected person from scratch each time;
    message ``i`` is processed at instant ``nows[i]`` (never before the person's clock)."""
    histories: dict[str, list[Arrival]] = defaultdict(list)
    clocks: dict[str, int] = {}
    previous: dict[tuple[str, str], bool] = {}
    flips: list[Flip] = []
    order = sorted(registry.segments, key=lambda k: (registry.rank(k), k))
    for index, message in enumerate(messages):
        person = message.person
        clocks[person] = max(clocks.get(person, message.timestamp_ms), message.timestamp_ms)
        now = max(nows[index], clocks[person])
        histories[person].append(Arrival(message, now))
        profile = _rebuild(histories[person], unset_marker)
        ctx = HistoryContext(profile, registry, histories[person], now)
        for key in order:
            member = registry.segments[key].condition.matches(ctx)
            ctx.members[key] = member
            if member != previous.get((person, key), False):
                previous[(person, key)] = member
                flips.append((index, person, key, member))
    return flips


def _rebuild(history: list[Arrival], unset_marker: str) -> Profile:
    profile = Profile(person=history[0].message.person)
    for arrival in history:
        message = arrival.message
        observe(profile, message.body, message.timestamp_ms, message.user_id, message.anonymous_id)
        if message.type == "identify":
            apply_traits(profile, identify_traits(message.body), message.timestamp_ms, unset_marker)
            join_import(profile, message.body)
    return profile


def _sessions(feature: AggregateFeature, times: list[int]) -> int:
    """Visits or active minutes from every counted event's time, in order."""
    visits, minutes_ms = 0, 0
    for i, at in enumerate(times):
        if i == 0 or at - times[i - 1] >= feature.gap_ms:
            visits += 1
        else:
            minutes_ms += at - times[i - 1]
    return visits if feature.aggregate == "visits" else minutes_ms // 60_000


def _value(feature: AggregateFeature, message: Message) -> Any:
    return property_value(message.body, feature.path) if feature.path else None


def _counts_in_aggregate(feature: AggregateFeature, message: Message, now_ms: int) -> bool:
    if feature.path and _value(feature, message) is MISSING:
        return False
    at, window = message.timestamp_ms, feature.window
    if window.start_ms is not None:
        return window.start_ms <= at <= (window.end_ms or at)
    if window.last_ms:
        width = feature.width_ms
        return now_ms // width - BUCKETS < at // width <= now_ms // width - feature.lag
    return True
