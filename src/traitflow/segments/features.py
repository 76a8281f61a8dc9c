"""Bounded per-person state kept for event conditions and computed traits.

No event list is ever stored. A windowed count keeps only the ``keep`` most recent matching
timestamps (enough to decide "at least / exactly / at most N"); an absolute-range or
all-time count keeps one integer; an aggregate keeps one accumulator per time bucket, with
at most ``BUCKETS`` buckets per window, and value sets capped at ``SET_CAP``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from traitflow.segments.matchers import MISSING, EventMatcher, Window, property_value
from traitflow.segments.ops import is_number

BUCKETS = 48
SET_CAP = 100
SESSION_AGGREGATES = ("minutes", "visits")  # sessions: events closer than a gap
DEFAULT_SESSION_GAP_MS = 30 * 60_000
AGGREGATES = (
    "count", "sum", "avg", "min", "max", "first", "last",
    "most_frequent", "unique_list", "unique_count", *SESSION_AGGREGATES,
)  # fmt: skip


def feature_id(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, default=repr)).hexdigest()[:16]


def matcher_part(matcher: EventMatcher) -> dict[str, Any]:
    """The matcher as plain data, each filter by operator name and operand: the compiled
    predicate's repr names a memory address, new in every process, and an id made from it
    changed at each restart (the state stored under it then looked like a deleted
    definition's)."""
    filters = [
        {
            "path": list(f.path),
            "criterion": {"op": f.criterion.op.name, "operand": f.criterion.operand},
        }
        for f in matcher.filters
    ]
    return {"types": list(matcher.types), "name": matcher.name, "filters": filters}


def window_part(window: Window) -> dict[str, Any]:
    """The window as feature ids have always spelled it (the offset only when there is one),
    so that stored state keeps its id."""
    part: dict[str, Any] = {"last_ms": window.last_ms, "start_ms": window.start_ms,
                            "end_ms": window.end_ms}  # fmt: skip
    if window.offset_ms:
        part["offset_ms"] = window.offset_ms
    return part


@dataclass(frozen=True, slots=True)
class CountFeature:
    """How many matching events fall in the window (exact)."""

    matcher: EventMatcher
    window: Window
    keep: int
    id: str = field(init=False, compare=False)  # read per evaluation: hashed once

    def __post_init__(self) -> None:
        keep = self.keep if self.window.last_ms else 0
        object.__setattr__(
            self,
            "id",
            feature_id("count", matcher_part(self.matcher), window_part(self.window), keep),
        )

    def update(self, state: Any, at_ms: int) -> Any:
        if self.window.last_ms is not None:
            return sorted([*(state or []), at_ms], reverse=True)[: self.keep]
        if self.window.start_ms is not None and not (
            self.window.start_ms <= at_ms <= (self.window.end_ms or at_ms)
        ):
            return state
        return (state or 0) + 1

    def count(self, state: Any, now_ms: int) -> int:
        if self.window.last_ms is None:
            return int(state or 0)
        return sum(1 for at in state or [] if at <= now_ms < at + self.window.last_ms)

    def merge(self, state: Any, other: Any) -> Any:
        """The state of both people's events together (two profiles becoming one)."""
        if self.window.last_ms is not None:
            return sorted([*(state or []), *(other or [])], reverse=True)[: self.keep]
        return int(state or 0) + int(other or 0)

    def expiries(self, state: Any, now_ms: int) -> list[int]:
        """Instants at which a counted event leaves the sliding window."""
        if self.window.last_ms is None:
            return []
        return [at + self.window.last_ms for at in state or [] if at + self.window.last_ms > now_ms]


EVER = Window()
SEQUENCE_KEEP = 20  # the latest instants of each sequence step a person keeps


@dataclass(frozen=True, slots=True)
class RecentFeature:
    """The ``keep`` latest instants a person did the event: a sequence step's. The latest
    instants of all events are the same whatever order messages arrive in."""

    matcher: EventMatcher
    keep: int = SEQUENCE_KEEP
    window: Window = field(default=EVER)  # a replay of history starts at its beginning
    id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", feature_id("recent", matcher_part(self.matcher), self.keep))

    def update(self, state: Any, at_ms: int) -> list[int]:
        return sorted({*(state or []), at_ms}, reverse=True)[: self.keep]

    def merge(self, state: Any, other: Any) -> Any:
        if not state or not other:
            return state or other
        return sorted({*state, *other}, reverse=True)[: self.keep]


@dataclass(frozen=True, slots=True)
class TimesFeature:
    """The first and the last time a person did the event: two instants, whatever the
    order messages arrive in (the earliest and the latest win)."""

    matcher: EventMatcher
    window: Window = field(default=EVER)  # a replay of history starts at its beginning
    id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", feature_id("times", matcher_part(self.matcher)))

    def update(self, state: Any, at_ms: int) -> list[int]:
        return [at_ms, at_ms] if not state else [min(state[0], at_ms), max(state[1], at_ms)]

    def merge(self, state: Any, other: Any) -> Any:
        if not state or not other:
            return state or other
        return [min(state[0], other[0]), max(state[1], other[1])]


@dataclass(frozen=True, slots=True)
class AggregateFeature:
    """count / sum / avg / min / max / first / last / most_frequent / unique_* of a property.

    A window of ``last`` W is kept as buckets of W/48: the window's old edge moves in steps
    of one bucket, and every evaluator (incremental and reference) uses the same rule.
    """

    matcher: EventMatcher
    window: Window
    aggregate: str
    path: tuple[str, ...] | None
    gap_ms: int = DEFAULT_SESSION_GAP_MS  # minutes and visits: the inactivity between sessions
    id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        parts: tuple[Any, ...] = (
            "aggregate",
            matcher_part(self.matcher),
            window_part(self.window),
            self.aggregate,
            self.path,
        )
        if self.sessions:
            parts += (self.gap_ms,)
        object.__setattr__(self, "id", feature_id(*parts))

    @property
    def sessions(self) -> bool:
        """Active minutes and visits keep sessions (spans), not accumulators."""
        return self.aggregate in SESSION_AGGREGATES

    @property
    def width_ms(self) -> int:
        return max(1, (self.window.last_ms or 0) // BUCKETS)

    def update(self, state: Any, at_ms: int, message: Mapping[str, Any]) -> Any:
        value = property_value(message, self.path) if self.path else None
        if self.path and value is MISSING:
            return state
        if self.window.start_ms is not None and not (
            self.window.start_ms <= at_ms <= (self.window.end_ms or at_ms)
        ):
            return state
        buckets = dict(state or {})
        key = str(at_ms // self.width_ms) if self.window.last_ms else "0"
        if self.sessions:
            buckets[key] = join_spans([*buckets.get(key, []), [at_ms, at_ms]], self.gap_ms)
        else:
            buckets[key] = accumulate(buckets.get(key), at_ms, value)
        return self._prune(buckets, at_ms)

    def merge(self, state: Any, other: Any) -> Any:
        """Bucket by bucket, as if one person had sent both people's events."""
        buckets = dict(state or {})
        for key, acc in (other or {}).items():
            if key not in buckets:
                buckets[key] = acc
            elif self.sessions:
                buckets[key] = join_spans([*buckets[key], *acc], self.gap_ms)
            else:
                buckets[key] = combine(buckets[key], acc)
        if not buckets:
            return state
        newest = max(int(key) for key in buckets) * self.width_ms
        return self._prune(buckets, newest)

    def value(self, state: Any, now_ms: int) -> Any:
        live = [acc for key, acc in (state or {}).items() if self._live(int(key), now_ms)]
        if self.sessions:
            return finish_sessions(self.aggregate, live, self.gap_ms)
        return finish(self.aggregate, live)

    @property
    def lag(self) -> int:
        """Buckets between now and the window's recent edge (an offset window's)."""
        return self.window.offset_ms // self.width_ms

    def expiries(self, state: Any, now_ms: int) -> list[int]:
        """Instants a bucket leaves the window, or (offset windows) enters it."""
        if not self.window.last_ms:
            return []
        edges = [(int(k) + BUCKETS) * self.width_ms for k in state or {}]
        if self.lag:
            edges += [(int(k) + self.lag) * self.width_ms for k in state or {}]
        return [edge for edge in edges if edge > now_ms]

    def _live(self, bucket: int, now_ms: int) -> bool:
        if not self.window.last_ms:
            return True
        newest = now_ms // self.width_ms
        return newest - BUCKETS < bucket <= newest - self.lag

    def _prune(self, buckets: dict[str, Any], now_ms: int) -> dict[str, Any]:
        if not self.window.last_ms:
            return buckets
        keep = sorted(buckets, key=int)[-BUCKETS:]
        return {key: buckets[key] for key in keep}


def join_spans(spans: list[list[int]], gap_ms: int) -> list[list[int]]:
    """Sessions as [start, end] spans in time order, two joined when the second starts
    less than ``gap_ms`` after the first ends. Any order of events gives the same spans;
    beyond ``SET_CAP`` spans (one bucket of a bot), the two closest are joined."""
    joined: list[list[int]] = []
    for start, end in sorted(spans):
        if joined and start - joined[-1][1] < gap_ms:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    while len(joined) > SET_CAP:
        i = min(range(len(joined) - 1), key=lambda k: joined[k + 1][0] - joined[k][1])
        joined[i : i + 2] = [[joined[i][0], max(joined[i][1], joined[i + 1][1])]]
    return joined


def finish_sessions(aggregate: str, buckets: list[list[list[int]]], gap_ms: int) -> int:
    """Visits: sessions over the live buckets; minutes: their total length, whole minutes
    (a session of one event lasts 0)."""
    sessions = join_spans([span for spans in buckets for span in spans], gap_ms)
    if aggregate == "visits":
        return len(sessions)
    return sum(end - start for start, end in sessions) // 60_000


def accumulate(acc: dict[str, Any] | None, at_ms: int, value: Any) -> dict[str, Any]:
    acc = dict(acc or {"n": 0, "sum": 0, "min": None, "max": None, "first": None, "last": None})
    acc["n"] += 1
    if is_number(value):
        acc["sum"] += value
        acc["min"] = value if acc["min"] is None else min(acc["min"], value)
        acc["max"] = value if acc["max"] is None else max(acc["max"], value)
        acc["nums"] = acc.get("nums", 0) + 1
    if acc["first"] is None or at_ms < acc["first"][0]:
        acc["first"] = [at_ms, value]
    if acc["last"] is None or at_ms >= acc["last"][0]:
        acc["last"] = [at_ms, value]
    if value is not None:
        token = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        counts = dict(acc.get("counts", {}))
        if token in counts or len(counts) < SET_CAP:
            counts[token] = counts.get(token, 0) + 1
        acc["counts"] = counts
    return acc


def combine(one: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Two accumulators of one bucket as one (the same result as accumulating both's
    events, except that first/last ties keep ``one``'s value)."""
    acc = {**one, "n": one["n"] + other["n"], "sum": one["sum"] + other["sum"]}
    for name, pick in (("min", min), ("max", max)):
        values = [a[name] for a in (one, other) if a[name] is not None]
        acc[name] = pick(values) if values else None
    if "nums" in one or "nums" in other:
        acc["nums"] = one.get("nums", 0) + other.get("nums", 0)
    edges = [a for a in (one, other) if a["first"] is not None]
    acc["first"] = min((a["first"] for a in edges), key=lambda edge: edge[0], default=None)
    edges = [a for a in (one, other) if a["last"] is not None]
    acc["last"] = max((a["last"] for a in edges), key=lambda edge: edge[0], default=None)
    counts = dict(one.get("counts", {}))
    for token, n in other.get("counts", {}).items():
        if token in counts or len(counts) < SET_CAP:
            counts[token] = counts.get(token, 0) + n
    if counts:
        acc["counts"] = counts
    return acc


def finish(aggregate: str, accs: list[dict[str, Any]]) -> Any:
    if aggregate == "count":
        return sum(acc["n"] for acc in accs)
    nums = sum(acc.get("nums", 0) for acc in accs)
    if aggregate in ("sum", "avg", "min", "max"):
        return _numeric(aggregate, accs, nums)
    if aggregate in ("first", "last"):
        return _edge(aggregate, accs)
    counts: dict[str, int] = {}
    for acc in accs:
        for token, n in acc.get("counts", {}).items():
            counts[token] = counts.get(token, 0) + n
    if aggregate == "unique_count":
        return len(counts)
    if aggregate == "unique_list":
        return [orjson.loads(token) for token in sorted(counts)[:SET_CAP]]
    if not counts:
        return None
    best = min(counts, key=lambda token: (-counts[token], token))
    return orjson.loads(best)


def _numeric(aggregate: str, accs: list[dict[str, Any]], nums: int) -> Any:
    if not nums:
        return 0 if aggregate == "sum" else None
    if aggregate in ("sum", "avg"):
        total = sum(acc["sum"] for acc in accs)
        return total if aggregate == "sum" else total / nums
    values = [acc[aggregate] for acc in accs if acc[aggregate] is not None]
    return min(values) if aggregate == "min" else max(values)


def _edge(aggregate: str, accs: list[dict[str, Any]]) -> Any:
    """Earliest (ties: first processed) or latest (ties: last processed) edge value."""
    chosen = None
    for acc in accs:
        edge = acc[aggregate]
        if edge is None:
            continue
        earlier = chosen is None or edge[0] < chosen[0]
        later = chosen is None or edge[0] >= chosen[0]
        if (aggregate == "first" and earlier) or (aggregate == "last" and later):
            chosen = edge
    return None if chosen is None else chosen[1]
