"""The condition language: what one segment definition's ``condition`` can say.

Each condition answers ``matches(ctx)``, names what it depends on (``deps``) so a message
re-evaluates only the segments it can change, names the earliest future instant at which
time alone can change its answer (``next_flip``: the only one a profile keeps), and can
``explain`` itself with the compared values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from traitflow.exceptions import InvalidDefinition
from traitflow.segments.features import (
    AggregateFeature,
    CountFeature,
    RecentFeature,
    TimesFeature,
)
from traitflow.segments.matchers import MISSING, build_matcher, build_window
from traitflow.segments.ops import Criterion, build_criterion, span_ms
from traitflow.timeutil import iso_from_ms

Dep = tuple[str, str]
Flip = tuple[int, str]  # an instant at which time alone may change the answer, and why
COUNT_OPS = ("at_least", "exactly", "at_most")
MAX_WINDOWED_COUNT = 1_000  # a windowed count keeps n + 1 instants in every profile


class Context(Protocol):
    """What a condition may read about one person at one instant."""

    now_ms: int
    memo: dict[int, Any]  # what a condition worked out at this instant, by its id()

    def trait(self, path: tuple[str, ...]) -> Any: ...
    def count(self, feature: CountFeature | AggregateFeature) -> int: ...
    def count_expiries(self, feature: CountFeature | AggregateFeature) -> list[int]: ...
    def times(self, feature: TimesFeature) -> tuple[int, int] | None: ...
    def recent(self, feature: RecentFeature) -> list[int]: ...
    def computed(self, key: str) -> Any: ...
    def computed_expiries(self, key: str) -> list[int]: ...
    def member(self, segment: str) -> bool: ...
    def segment_flips(self, segment: str) -> list[Flip]: ...
    def in_import(self, name: str) -> bool: ...


@dataclass(slots=True)
class Explanation:
    result: bool
    text: str
    children: list[Explanation] = field(default_factory=list)

    def lines(self, depth: int = 0) -> list[str]:
        mark = "yes" if self.result else "no "
        own = [f"{'  ' * depth}[{mark}] {self.text}"]
        return own + [line for child in self.children for line in child.lines(depth + 1)]


class Condition(Protocol):
    def matches(self, ctx: Context) -> bool: ...
    def deps(self) -> frozenset[Dep]: ...
    def next_flip(self, ctx: Context) -> Flip | None: ...
    def explain(self, ctx: Context) -> Explanation: ...


@dataclass(frozen=True, slots=True)
class Comparison:
    """A trait (``$``-prefixed names are built-in traits) or a computed trait, compared."""

    source: str  # "trait" or "computed"
    path: tuple[str, ...]
    criterion: Criterion
    text: str = ""

    def _actual(self, ctx: Context) -> Any:
        return ctx.trait(self.path) if self.source == "trait" else ctx.computed(self.path[0])

    def matches(self, ctx: Context) -> bool:
        return self.criterion.holds(self._actual(ctx), ctx.now_ms)

    def deps(self) -> frozenset[Dep]:
        return frozenset({(self.source, self.path[0])})

    def next_flip(self, ctx: Context) -> Flip | None:
        if self.source == "computed":
            instants = (*self.criterion.flip_instants(self._actual(ctx)),
                        *ctx.computed_expiries(self.path[0]))  # fmt: skip
        elif self.criterion.op.flips is None:
            return None  # "plan = trial": nothing but a message changes it
        else:
            instants = self.criterion.flip_instants(self._actual(ctx))
        future = [t for t in instants if t > ctx.now_ms]
        return (min(future), self.text) if future else None

    def explain(self, ctx: Context) -> Explanation:
        actual = self._actual(ctx)
        shown = "missing" if actual is MISSING or actual is None else repr(actual)
        text = f"{self.source} {'.'.join(self.path)} = {shown}; wanted {self.criterion.wanted()}"
        return Explanation(self.matches(ctx), text)


NUMERIC_COMPARISONS: dict[str, Any] = {
    "<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__,
    "=": float.__eq__, "==": float.__eq__, "!=": float.__ne__,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ComputedVersus:
    """One computed trait compared with ``factor`` times another: "visits in the last 7
    days < visits in the 7 days before", "< 0.5 x" for a ratio. A side that is not a
    number (no events yet, for an average) makes it false."""

    left: str
    op: str
    right: str
    factor: float
    text: str = ""

    def _sides(self, ctx: Context) -> tuple[Any, Any]:
        return ctx.computed(self.left), ctx.computed(self.right)

    def matches(self, ctx: Context) -> bool:
        left, right = self._sides(ctx)
        if not (_is_number(left) and _is_number(right)):
            return False
        return bool(NUMERIC_COMPARISONS[self.op](float(left), self.factor * float(right)))

    def deps(self) -> frozenset[Dep]:
        return frozenset({("computed", self.left), ("computed", self.right)})

    def next_flip(self, ctx: Context) -> Flip | None:
        instants = [*ctx.computed_expiries(self.left), *ctx.computed_expiries(self.right)]
        return _earliest((t, self.text) for t in instants if t > ctx.now_ms)

    def explain(self, ctx: Context) -> Explanation:
        left, right = self._sides(ctx)
        times = "" if self.factor == 1 else f"{self.factor:g} x "
        text = (f"computed {self.left} = {_shown(left)}; wanted {self.op} {times}computed "
                f"{self.right} = {_shown(right)}")  # fmt: skip
        return Explanation(self.matches(ctx), text)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    return "missing" if value is MISSING or value is None else repr(value)


@dataclass(frozen=True, slots=True)
class EventCount:
    """Performed an event at least / exactly / at most N times, in a window or ever. A
    window with an offset ("from 14 to 7 days ago") counts in buckets, as computed traits
    do: events enter it as time passes, as well as leave it."""

    feature: CountFeature | AggregateFeature
    op: str
    n: int
    text: str = ""

    def matches(self, ctx: Context) -> bool:
        count = ctx.count(self.feature)
        if self.op == "at_least":
            return count >= self.n
        return count == self.n if self.op == "exactly" else count <= self.n

    def deps(self) -> frozenset[Dep]:
        return frozenset({("feature", self.feature.id)})

    def next_flip(self, ctx: Context) -> Flip | None:
        """The one instant the answer changes as counted events leave the window, if any
        (for buckets: the next instant one moves, which may change nothing)."""
        if isinstance(self.feature, AggregateFeature):
            return _earliest((t, self.text) for t in ctx.count_expiries(self.feature))
        expiries = sorted(ctx.count_expiries(self.feature))
        count, n = len(expiries), self.n
        if self.op == "at_least":
            index = count - n if count >= n > 0 else None
        elif self.op == "exactly" and count == n:
            index = 0 if count else None
        else:  # becomes true once the count has dropped to n
            index = count - n - 1 if count > n else None
        return None if index is None else (expiries[index], self.text)

    def explain(self, ctx: Context) -> Explanation:
        matcher = self.feature.matcher
        what = matcher.name or "/".join(matcher.types)
        text = f"event {what!r} counted {ctx.count(self.feature)} times; wanted {self.op} {self.n}"
        return Explanation(self.matches(ctx), text)


@dataclass(frozen=True, slots=True)
class EventTime:
    """The first (or last) time the person did an event was less than / more than a span
    ago: "first ordered in the last 7 days", "last ordered more than 30 days ago". Someone
    who never did it matches neither; the answer flips exactly when the span runs out."""

    feature: TimesFeature
    edge: str  # "first" or "last"
    op: str  # "less_than" or "more_than"
    span_ms: int
    span: str  # as written: "7 days"
    text: str = ""

    def _boundary(self, ctx: Context) -> int | None:
        """The instant the span from the first (last) time runs out."""
        times = ctx.times(self.feature)
        if times is None:
            return None
        return (times[0] if self.edge == "first" else times[1]) + self.span_ms

    def matches(self, ctx: Context) -> bool:
        boundary = self._boundary(ctx)
        if boundary is None:
            return False
        return ctx.now_ms < boundary if self.op == "less_than" else ctx.now_ms >= boundary

    def deps(self) -> frozenset[Dep]:
        return frozenset({("feature", self.feature.id)})

    def next_flip(self, ctx: Context) -> Flip | None:
        boundary = self._boundary(ctx)
        return (boundary, self.text) if boundary is not None and boundary > ctx.now_ms else None

    def explain(self, ctx: Context) -> Explanation:
        matcher = self.feature.matcher
        what = matcher.name or "/".join(matcher.types)
        times = ctx.times(self.feature)
        at = None if times is None else times[0] if self.edge == "first" else times[1]
        when = "never" if at is None else iso_from_ms(at)
        wanted = f"{self.op.replace('_', ' ')} {self.span} ago"
        text = f"event {what!r} {self.edge} done {when}; wanted {wanted}"
        return Explanation(self.matches(ctx), text)


@dataclass(frozen=True, slots=True)
class SegmentMember:
    segment: str

    def matches(self, ctx: Context) -> bool:
        return ctx.member(self.segment)

    def deps(self) -> frozenset[Dep]:
        return frozenset({("segment", self.segment)})

    def next_flip(self, ctx: Context) -> Flip | None:
        return _earliest(f for f in ctx.segment_flips(self.segment) if f[0] > ctx.now_ms)

    def explain(self, ctx: Context) -> Explanation:
        return Explanation(self.matches(ctx), f"member of segment {self.segment!r}")


@dataclass(frozen=True, slots=True)
class ImportMember:
    name: str

    def matches(self, ctx: Context) -> bool:
        return ctx.in_import(self.name)

    def deps(self) -> frozenset[Dep]:
        return frozenset({("import", self.name)})

    def next_flip(self, ctx: Context) -> Flip | None:
        return None

    def explain(self, ctx: Context) -> Explanation:
        return Explanation(self.matches(ctx), f"in CSV import {self.name!r}")


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition

    def matches(self, ctx: Context) -> bool:
        return not self.part.matches(ctx)

    def deps(self) -> frozenset[Dep]:
        return self.part.deps()

    def next_flip(self, ctx: Context) -> Flip | None:
        return self.part.next_flip(ctx)

    def explain(self, ctx: Context) -> Explanation:
        return Explanation(self.matches(ctx), "not", [self.part.explain(ctx)])


@dataclass(frozen=True, slots=True)
class Combination:
    """``and`` (every part holds) or ``or`` (some part holds)."""

    parts: tuple[Condition, ...]
    every: bool

    def matches(self, ctx: Context) -> bool:
        quantifier = all if self.every else any
        return quantifier(part.matches(ctx) for part in self.parts)

    def deps(self) -> frozenset[Dep]:
        return frozenset().union(*(part.deps() for part in self.parts))

    def next_flip(self, ctx: Context) -> Flip | None:
        return _earliest(part.next_flip(ctx) for part in self.parts)

    def explain(self, ctx: Context) -> Explanation:
        children = [part.explain(ctx) for part in self.parts]
        return Explanation(self.matches(ctx), "all of" if self.every else "any of", children)


def _earliest(flips: Iterable[Flip | None]) -> Flip | None:
    return min((flip for flip in flips if flip is not None), default=None)


def build_condition(spec: Mapping[str, Any], where: str = "condition") -> Condition:
    """Turn a schema-valid condition into objects, checking what the schema cannot."""
    if "and" in spec or "or" in spec:
        word = "and" if "and" in spec else "or"
        parts = tuple(build_condition(s, f"{where}.{word}[{i}]") for i, s in enumerate(spec[word]))
        return Combination(parts, every=word == "and")
    if "not" in spec:
        return Not(build_condition(spec["not"], f"{where}.not"))
    if "sequence" in spec:
        from traitflow.segments.sequences import build_sequence  # it imports this module

        return build_sequence(spec["sequence"], f"{where}.sequence")
    if "segment" in spec:
        return SegmentMember(spec["segment"])
    if "import" in spec:
        return ImportMember(spec["import"])
    if "event" in spec and ("first" in spec or "last" in spec):
        return _event_time(spec, where)
    if "event" in spec:
        return _event_count(spec, where)
    source = "trait" if "trait" in spec else "computed"
    if "other" in spec or "factor" in spec:
        return _versus(spec, where)
    criterion = build_criterion(
        spec["op"], spec.get("value"), "value" in spec, spec.get("unit"), where
    )
    return Comparison(source, tuple(spec[source].split(".")), criterion, text_of(spec))


def _event_count(spec: Mapping[str, Any], where: str) -> EventCount:
    count = spec.get("count", {"at_least": 1})
    [(op, n)] = count.items() if len(count) == 1 else [("", 0)]
    if op not in COUNT_OPS or not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InvalidDefinition(f"{where}.count: one of {', '.join(COUNT_OPS)} with a count >= 0")
    matcher = build_matcher(spec, where)
    window = build_window(spec.get("within"), where)
    if window.last_ms is not None and n > MAX_WINDOWED_COUNT:
        raise InvalidDefinition(
            f"{where}.count: {op} {n} in a sliding window keeps {n + 1} instants per person; "
            f"at most {MAX_WINDOWED_COUNT:,} (a computed trait with aggregate 'count' counts "
            "any number in buckets)"
        )
    if window.offset_ms:
        return EventCount(AggregateFeature(matcher, window, "count", None), op, n, text_of(spec))
    return EventCount(CountFeature(matcher, window, n + 1), op, n, text_of(spec))


def _versus(spec: Mapping[str, Any], where: str) -> ComputedVersus:
    op = spec["op"]
    if "other" not in spec or "value" in spec or "unit" in spec:
        raise InvalidDefinition(
            f"{where}: 'other' names the computed trait to compare with (and 'factor' "
            "multiplies it); it takes the place of 'value' and 'unit'"
        )
    if op not in NUMERIC_COMPARISONS:
        raise InvalidDefinition(
            f"{where}: op {op!r} cannot compare two computed traits; use one of "
            f"{', '.join(sorted(set(NUMERIC_COMPARISONS) - {'=='}))}"
        )
    factor = spec.get("factor", 1)
    return ComputedVersus(spec["computed"], op, spec["other"], float(factor), text_of(spec))


def _event_time(spec: Mapping[str, Any], where: str) -> EventTime:
    if ("first" in spec and "last" in spec) or "count" in spec or "within" in spec:
        raise InvalidDefinition(
            f"{where}: 'first' or 'last' says when; it goes alone, without 'count', "
            "'within' or the other one (combine two conditions with 'and')"
        )
    edge = "first" if "first" in spec else "last"
    [(op, span)] = [(op, spec[edge][op]) for op in ("less_than", "more_than") if op in spec[edge]]
    unit = spec[edge].get("unit", "days")
    feature = TimesFeature(build_matcher(spec, where))
    spent = span_ms(span, unit, f"{where}.{edge}.{op}")
    return EventTime(feature, edge, op, spent, f"{span} {unit}", text_of(spec))


def text_of(spec: Mapping[str, Any]) -> str:
    """The leaf as its author wrote it, for ``cause.condition`` of time-driven events."""
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
