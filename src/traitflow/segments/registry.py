"""The definitions a worker knows, fed from the compacted segments topic, and their indexes.

Indexes are rebuilt on each definition change (rare) so that a message costs lookups in
proportion to what it touches, never to the number of live segments.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from traitflow.exceptions import InvalidDefinition
from traitflow.segments.conditions import Dep
from traitflow.segments.definition import (
    COMPUTED_PREFIX,
    ComputedTrait,
    Definition,
    Segment,
    definition_from_record,
)
from traitflow.segments.features import (
    AggregateFeature,
    CountFeature,
    RecentFeature,
    TimesFeature,
)
from traitflow.segments.replay import Replay, definition_features, read_replay_header

log = logging.getLogger(__name__)

Feature = CountFeature | AggregateFeature | TimesFeature | RecentFeature
Headers = list[tuple[str, bytes]] | None


@dataclass(frozen=True, slots=True)
class Paused:
    """While a partition replays history (``traitflow.segments.replay``): features its live
    messages must not count yet, and segments it must not decide yet."""

    features: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()


NOTHING_PAUSED = Paused()
READING_MEMO = 64  # sets of replaying features remembered (a few replays run at once)
MAX_REFERENCE_DEPTH = 64  # segments referring to segments referring to ...


class Registry:
    def __init__(self, definitions: Iterable[Definition] = ()) -> None:
        self.segments: dict[str, Segment] = {}
        self.computed: dict[str, ComputedTrait] = {}
        self.version = -1
        self._changes: dict[str, int] = {}  # record key -> version of its last change
        self._index = _build_index({}, {})
        self.memo: dict[str, object] = {}  # derived facts, cleared on every change
        self._deferred = False
        self.replays: dict[str, Replay] = {}  # record key -> the replay its record asks for
        self.paused = NOTHING_PAUSED  # set by the worker for the partition it processes
        # record key -> why its latest record cannot be read: its last good version (if
        # this process saw one) stays, and its members are held, never exited
        self.unreadable: dict[str, str] = {}
        with self.batch():
            for definition in definitions:
                self.put(definition)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Apply many changes, rebuilding the indexes (and checking cycles) once at the end."""
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False
            self._reindex()

    def __repr__(self) -> str:
        definitions: list[Definition] = [*self.computed.values(), *self.segments.values()]
        specs = [definition.spec for definition in definitions]
        return f"Registry({specs!r})"

    def __len__(self) -> int:
        return len(self.segments)

    def all(self) -> list[Segment]:
        return [self.segments[key] for key in sorted(self.segments)]

    def get(self, key: str) -> Segment | None:
        return self.segments.get(key)

    def put(self, definition: Definition, version: int | None = None) -> None:
        """Add or replace a definition; refuse one that would close a segment cycle."""
        if isinstance(definition, Segment):
            refuse_cycle(self.segments, definition)
            self.segments[definition.key] = definition
        else:
            self.computed[definition.key] = definition
        self._changed(definition.record_key, version)

    def remove(self, record_key: str, version: int | None = None) -> None:
        self.replays.pop(record_key, None)
        if record_key.startswith(COMPUTED_PREFIX):
            self.computed.pop(record_key[len(COMPUTED_PREFIX) :], None)
        else:
            self.segments.pop(record_key, None)
        self._changed(record_key, version)

    def apply_records(
        self, records: Iterable[tuple[bytes | None, bytes | None, int, Headers]]
    ) -> None:
        """Apply a batch of segments-topic records (inside ``batch()`` to index once)."""
        for key, value, offset, headers in records:
            self.apply_record(key, value, offset, headers)

    def apply_record(
        self,
        key: bytes | None,
        value: bytes | None,
        offset: int | None = None,
        headers: Headers = None,
    ) -> None:
        """Apply one segments-topic record: a definition (with the replay of history it
        asks for, if any), or a tombstone that deletes. A definition that cannot be read
        (one an older or newer version wrote, or a hostile producer) is named in
        ``unreadable``: the version this registry had stays, and no member exits."""
        if key is None:
            log.warning("ignoring a segments record without a key")
            return
        record_key = key.decode(errors="replace")
        if value is None:
            self.unreadable.pop(record_key, None)
            self.remove(record_key, offset)
            return
        try:
            definition = definition_from_record(key, value)
            replay = read_replay_header(headers)
            self.put(definition, offset)
        except Exception as exc:  # any record a producer can write: never a stopped feed
            reason = str(exc) if isinstance(exc, InvalidDefinition) else repr(exc)
            self.unreadable[record_key] = reason[:500]
            log.error("definition %r cannot be read (%s): its last good version stays, "
                      "its members are held", record_key, reason[:500])  # fmt: skip
            if offset is not None:
                self.version = max(self.version, offset)
            return
        self.unreadable.pop(record_key, None)
        if replay is None:
            self.replays.pop(definition.record_key, None)
        else:
            self.replays[definition.record_key] = replay

    # -- indexes --------------------------------------------------------------------------

    def features(self, message_type: str, name: str | None) -> list[Feature]:
        """Features that a message of this type and name may update."""
        index = self._index["events"]
        return [*index.get((message_type, name), []), *index.get((message_type, None), [])]

    def replaying(self) -> dict[str, frozenset[str]]:
        """Live features that records asked to count from history, by replay."""
        cached = self.memo.get("replaying")
        if isinstance(cached, dict):
            return cached
        found: dict[str, frozenset[str]] = {}
        for replay in self.replays.values():
            live = frozenset(f for f in replay.features if self.is_live_feature(f))
            if live:
                found[replay.id] = found.get(replay.id, frozenset()) | live
        self.memo["replaying"] = found
        return found

    def reading(self, features: Iterable[str]) -> frozenset[str]:
        """Segments that read any of ``features`` (directly, through a computed trait, or
        through a segment that does). Remembered until the definitions change: while a
        replay runs, the worker asks this for every message with the same features."""
        key = frozenset(features)
        cache = self.memo.setdefault("reading", {})
        assert isinstance(cache, dict)
        cached = cache.get(key)
        if cached is not None:
            return cast(frozenset[str], cached)
        found = self.affected({("feature", feature) for feature in key})
        stack = list(found)
        while stack:
            for dependent in self.dependents(stack.pop()) - found:
                found.add(dependent)
                stack.append(dependent)
        if len(cache) >= READING_MEMO:
            cache.clear()
        result = frozenset(found)
        cache[key] = result
        return result

    def feature_ids(self) -> frozenset[str]:
        return frozenset(self._index["feature_ids"])

    def dead_features(self, feature_ids: Mapping[str, object]) -> set[str]:
        """Those of ``feature_ids`` no live definition reads (deleted since)."""
        live: dict[str, Feature] = self._index["feature_ids"]
        return feature_ids.keys() - live.keys()

    def is_live_feature(self, feature_id: str) -> bool:
        return feature_id in self._index["feature_ids"]

    def feature(self, feature_id: str) -> Feature | None:
        found: Feature | None = self._index["feature_ids"].get(feature_id)
        return found

    def affected(self, deps: Iterable[Dep]) -> set[str]:
        """Segments whose answer may change when any of ``deps`` changed."""
        by_dep, computed_of = self._index["by_dep"], self._index["computed_of_feature"]
        found: set[str] = set()
        for dep in deps:
            found |= by_dep.get(dep, set())
            if dep[0] == "feature":
                for key in computed_of.get(dep[1], ()):
                    found |= by_dep.get(("computed", key), set())
        return found

    def dependents(self, segment: str) -> set[str]:
        result: set[str] = self._index["by_dep"].get(("segment", segment), set())
        return result

    def rank(self, segment: str) -> int:
        """Depth in the reference graph: a segment ranks after those it refers to."""
        return int(self._index["rank"].get(segment, 0))

    def changed_since(self, version: int) -> set[str]:
        """Segments defined or redefined after ``version`` (directly or via computed traits)."""
        if version >= self.version:
            return set()
        keys = {key for key, at in self._changes.items() if at > version}
        computed = {k[len(COMPUTED_PREFIX) :] for k in keys if k.startswith(COMPUTED_PREFIX)}
        direct = {k for k in keys if not k.startswith(COMPUTED_PREFIX) and k in self.segments}
        by_dep = self._index["by_dep"]
        return direct.union(*(by_dep.get(("computed", key), set()) for key in computed))

    def _changed(self, record_key: str, version: int | None) -> None:
        self.version = self.version + 1 if version is None else max(version, self.version)
        self._changes[record_key] = self.version
        if not self._deferred:
            self._reindex()

    def _reindex(self) -> None:
        self._index = _build_index(self.segments, self.computed)
        self.memo.clear()


def segment_refs(segment: Segment) -> list[str]:
    return sorted(name for kind, name in segment.condition.deps() if kind == "segment")


def refuse_cycle(segments: dict[str, Segment], new: Segment) -> None:
    """Refuse ``new`` if its references lead back to it, naming the loop: ``a -> b -> a``,
    or go deeper than ``MAX_REFERENCE_DEPTH``. Only what ``new`` reaches is searched, so
    applying many definitions stays linear; the walk is iterative (a chain of 1,000
    references once overflowed Python's stack)."""
    trail = [new.key]
    pending = [iter(segment_refs(new))]
    seen: set[str] = set()
    while pending:
        ref = next(pending[-1], None)
        if ref is None:
            pending.pop()
            trail.pop()
            continue
        if ref == new.key:
            raise InvalidDefinition(
                f"segment references form a cycle: {' -> '.join([*trail, ref])}"
            )
        if ref in seen or ref not in segments:
            continue
        seen.add(ref)
        trail.append(ref)
        pending.append(iter(segment_refs(segments[ref])))
    depth = _ranks(_With(segments, new), (new.key,))[new.key]
    if depth > MAX_REFERENCE_DEPTH:
        raise InvalidDefinition(
            f"segment {new.key!r} refers to segments {depth} deep; at most {MAX_REFERENCE_DEPTH}"
        )


def _build_index(
    segments: dict[str, Segment], computed: dict[str, ComputedTrait]
) -> dict[str, Any]:
    by_dep: dict[Dep, set[str]] = defaultdict(set)
    events: dict[tuple[str, str | None], list[Feature]] = defaultdict(list)
    features: dict[str, Feature] = {}
    for segment in segments.values():
        for dep in segment.condition.deps():
            by_dep[dep].add(segment.key)
        features.update((f.id, f) for f in definition_features(segment))
    computed_of: dict[str, list[str]] = defaultdict(list)
    for trait in computed.values():
        features[trait.feature.id] = trait.feature
        computed_of[trait.feature.id].append(trait.key)
    for feature in features.values():
        for index_key in feature.matcher.index_keys():
            events[index_key].append(feature)
    return {
        "by_dep": dict(by_dep),
        "events": dict(events),
        "feature_ids": features,
        "computed_of_feature": dict(computed_of),
        "rank": _ranks(segments),
    }


class _With(Mapping[str, Segment]):
    """``segments`` as they would be with ``new`` put in, without copying them all (a put
    per definition would copy every other one)."""

    def __init__(self, segments: dict[str, Segment], new: Segment) -> None:
        self.segments, self.new = segments, new

    def __getitem__(self, key: str) -> Segment:
        return self.new if key == self.new.key else self.segments[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.segments
        if self.new.key not in self.segments:
            yield self.new.key

    def __len__(self) -> int:
        return len(self.segments) + (self.new.key not in self.segments)


def _ranks(segments: Mapping[str, Segment], keys: Iterable[str] | None = None) -> dict[str, int]:
    """Each segment's depth in the reference graph (0: it refers to no segment), for
    ``keys`` (default: all) and what they reach; iterative, a cycle counted once."""
    ranks: dict[str, int] = {}
    for start in segments if keys is None else keys:
        if start in ranks:
            continue
        ranks[start] = 0  # on the path: a cycle (refused on put) ends here
        pending = [(start, iter(segment_refs(segments[start])))]
        while pending:
            key, refs = pending[-1]
            ref = next(refs, None)
            if ref is None:
                pending.pop()
                below = [ranks[r] for r in segment_refs(segments[key]) if r in segments]
                ranks[key] = 1 + max(below, default=-1)
            elif ref in segments and ref not in ranks:
                ranks[ref] = 0
                pending.append((ref, iter(segment_refs(segments[ref]))))
    return ranks
