"""The definitions a worker knows, fed from the compacted segments topic."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

import orjson

from traitflow.exceptions import InvalidDefinition
from traitflow.segments.definition import Segment, segment_from_spec

log = logging.getLogger(__name__)


class Registry:
    """Live segments by key, with an index from trait name to the segments reading it."""

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        self._segments: dict[str, Segment] = {}
        self._by_trait: dict[str, set[str]] = defaultdict(set)
        for segment in segments:
            self.put(segment)

    def __len__(self) -> int:
        return len(self._segments)

    def all(self) -> list[Segment]:
        return [self._segments[key] for key in sorted(self._segments)]

    def get(self, key: str) -> Segment | None:
        return self._segments.get(key)

    def put(self, segment: Segment) -> None:
        self.remove(segment.key)
        self._segments[segment.key] = segment
        for trait in segment.traits:
            self._by_trait[trait].add(segment.key)

    def remove(self, key: str) -> None:
        old = self._segments.pop(key, None)
        for trait in old.traits if old else ():
            self._by_trait[trait].discard(key)

    def reading(self, traits: Iterable[str]) -> list[Segment]:
        """Segments whose answer may change when any of ``traits`` changes."""
        keys = set().union(*(self._by_trait.get(trait, set()) for trait in traits))
        return [self._segments[key] for key in sorted(keys)]

    def apply_record(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one segments-topic record: a definition, or a tombstone that deletes."""
        if key is None:
            log.warning("ignoring a segments record without a key")
            return
        if value is None:
            self.remove(key.decode())
            return
        try:
            self.put(segment_from_spec(orjson.loads(value), f"segments record {key!r}"))
        except (InvalidDefinition, orjson.JSONDecodeError) as exc:
            log.error("ignoring invalid segment definition: %s", exc)
