"""Counting a new definition's events from history: what to replay, and from when.

A feature (a windowed count, an aggregate) that no live definition had before starts
empty, so "bought twice in 30 days" would be wrong for 30 days. Kafka is the history:
``segments apply`` marks each definition record whose features are new with the features
and the instant the replay starts from (the start of the longest window); workers count
those features from the events topic up to a barrier, live after it, and hold the
segments that read them until every partition has replayed (``traitflow.worker.replay``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from traitflow.segments.conditions import Combination, EventCount, EventTime, Not
from traitflow.segments.definition import Definition, Segment
from traitflow.segments.features import (
    AggregateFeature,
    CountFeature,
    RecentFeature,
    TimesFeature,
)
from traitflow.segments.sequences import Sequence

REPLAY_HEADER = "traitflow-replay"
Feature = CountFeature | AggregateFeature | TimesFeature | RecentFeature


@dataclass(frozen=True, slots=True)
class Replay:
    """Features of a definition counted from ``from_ms`` on, by the replay ``id`` (one per
    ``segments apply``)."""

    id: str
    features: frozenset[str]
    from_ms: int


def definition_features(definition: Definition) -> list[Feature]:
    """The event state a definition reads: its event counts, or its computed trait."""
    if not isinstance(definition, Segment):
        return [definition.feature]
    found: list[Feature] = []
    stack = [definition.condition]
    while stack:
        node = stack.pop()
        if isinstance(node, EventCount | EventTime):
            found.append(node.feature)
        elif isinstance(node, Sequence):
            found += [step.feature for step in node.steps]
            found += [node.never] if node.never else []
        elif isinstance(node, Combination):
            stack.extend(node.parts)
        elif isinstance(node, Not):
            stack.append(node.part)
    return found


def since_ms(feature: Feature, now_ms: int) -> int:
    """The oldest event time that can still count: the window's start (0: ever)."""
    window = feature.window
    if window.last_ms is not None:
        return max(0, now_ms - window.last_ms)
    return window.start_ms if window.start_ms is not None else 0


def plan_replays(
    live_features: Iterable[str], definitions: Iterable[Definition], now_ms: int
) -> dict[str, tuple[list[str], int]]:
    """Per definition record key: its features not ``live`` yet, and where replay starts."""
    live = set(live_features)
    plans: dict[str, tuple[list[str], int]] = {}
    for definition in definitions:
        new = {f.id: f for f in definition_features(definition) if f.id not in live}
        if new:
            start = min(since_ms(feature, now_ms) for feature in new.values())
            plans[definition.record_key] = (sorted(new), start)
    return plans


def replay_header(replay: Replay) -> tuple[str, bytes]:
    value = {"id": replay.id, "features": sorted(replay.features), "from_ms": replay.from_ms}
    return REPLAY_HEADER, orjson.dumps(value)


def read_replay_header(headers: Iterable[tuple[str, bytes]] | None) -> Replay | None:
    """The replay a definition record asks for; None if none (or unreadable: logged by
    the caller as an ordinary definition)."""
    for pair in headers or ():
        if not isinstance(pair, tuple | list) or len(pair) != 2 or pair[0] != REPLAY_HEADER:
            continue
        value = pair[1]
        try:
            data = orjson.loads(value)
            features = frozenset(map(str, data["features"]))
            return Replay(str(data["id"]), features, int(data["from_ms"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
    return None
