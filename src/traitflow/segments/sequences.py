"""Ordered sequences (funnels): "viewed Pricing, then started Checkout within 1 hour, and
did not complete an order within 1 day after that".

A person is in the segment once some run of the steps has happened, in time order, each
step within its ``within`` of the previous one and the whole run within the sequence's
``within`` (first step to last: the conversion window). With ``not_followed_by``, only
from the last step until the deadline after it, unless that event comes first: the
deadline passing is a time-driven exit, at the exact instant. Each step keeps the
person's ``SEQUENCE_KEEP`` latest instants (``RecentFeature``), so state is bounded and
the same whatever order messages arrive in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from traitflow.exceptions import InvalidDefinition
from traitflow.segments.conditions import Context, Dep, Explanation, Flip, text_of
from traitflow.segments.features import RecentFeature
from traitflow.segments.matchers import build_matcher, build_window
from traitflow.timeutil import iso_from_ms

MAX_STEPS = 10


@dataclass(frozen=True, slots=True)
class Step:
    feature: RecentFeature
    gap_ms: int | None  # at most this long after the previous step (None: any time after)

    @property
    def name(self) -> str:
        matcher = self.feature.matcher
        return matcher.name or "/".join(matcher.types)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far runs got: per step, the instants it is reached at, each with the latest
    first-step instant of a run reaching it (``reached[i]``); and the deadlines of complete
    runs still waiting for ``not_followed_by``."""

    reached: list[dict[int, int]]
    open_until: list[int]


@dataclass(frozen=True, slots=True)
class Sequence:
    steps: tuple[Step, ...]
    span_ms: int | None  # the whole run, first step to last, at most this long
    never: RecentFeature | None  # not_followed_by ...
    deadline_ms: int  # ... within this long after the last step
    text: str = ""

    def progress(self, ctx: Context) -> Progress:
        """Worked out once per person and instant: ``matches`` and ``next_flip`` both ask."""
        found = ctx.memo.get(id(self))
        if found is None:
            found = ctx.memo[id(self)] = self._progress(ctx)
        return cast(Progress, found)

    def _progress(self, ctx: Context) -> Progress:
        now = ctx.now_ms
        reached = [{t: t for t in ctx.recent(self.steps[0].feature) if t <= now}]
        for step in self.steps[1:]:
            found = {}
            for t in ctx.recent(step.feature):
                start = _latest_start(t, reached[-1], step) if t <= now else None
                if start is not None and (self.span_ms is None or t - start <= self.span_ms):
                    found[t] = start
            reached.append(found)
        return Progress(reached, self._open(ctx, sorted(reached[-1])))

    def _open(self, ctx: Context, done: list[int]) -> list[int]:
        """Deadlines (last step + deadline) not passed and not met by the ``never`` event."""
        if self.never is None:
            return []
        never = [t for t in ctx.recent(self.never) if t <= ctx.now_ms]
        return sorted(
            t + self.deadline_ms
            for t in done
            if ctx.now_ms < t + self.deadline_ms and not any(t < e for e in never)
        )

    def matches(self, ctx: Context) -> bool:
        progress = self.progress(ctx)
        return bool(progress.open_until if self.never else progress.reached[-1])

    def deps(self) -> frozenset[Dep]:
        features = [step.feature for step in self.steps]
        features += [self.never] if self.never else []
        return frozenset(("feature", feature.id) for feature in features)

    def next_flip(self, ctx: Context) -> Flip | None:
        """The earliest instant time alone may change the answer: the deadline of a run
        still waiting, or an event dated ahead of now coming due."""
        now = ctx.now_ms
        instants: list[int] = []
        features = [step.feature for step in self.steps] + ([self.never] if self.never else [])
        for feature in features:
            instants += [t for t in ctx.recent(feature) if t > now]
        instants += self.progress(ctx).open_until  # a wait that ends with time alone
        future = [t for t in instants if t > now]
        return (min(future), self.text) if future else None

    def explain(self, ctx: Context) -> Explanation:
        """Which step the person is at, and what the sequence waits for."""
        progress = self.progress(ctx)
        done = sum(1 for instants in progress.reached if instants)
        if done < len(self.steps):
            return Explanation(False, self._waiting(progress, done, ctx.now_ms))
        last = iso_from_ms(max(progress.reached[-1]))
        if self.never is None:
            return Explanation(True, f"sequence complete: last step {last}")
        what = self.never.matcher.name or "/".join(self.never.matcher.types)
        if progress.open_until:
            until = iso_from_ms(progress.open_until[-1])
            text = f"sequence complete {last}; no {what!r} since: in until {until}"
            return Explanation(True, text)
        return Explanation(False, f"sequence complete {last}, then {what!r} came or "
                                  "its deadline passed")  # fmt: skip

    def _waiting(self, progress: Progress, done: int, now_ms: int) -> str:
        step = self.steps[done]
        if done == 0:
            return f"at step 0 of {len(self.steps)}: waiting for {step.name!r}"
        at = max(progress.reached[done - 1])
        where = f"at step {done} of {len(self.steps)} ({iso_from_ms(at)})"
        if step.gap_ms is None:
            return f"{where}: waiting for {step.name!r}"
        until = iso_from_ms(at + step.gap_ms)
        if at + step.gap_ms < now_ms:
            return f"{where}: {step.name!r} did not come by {until}; waiting for a new run"
        return f"{where}: waiting for {step.name!r} until {until}"


def _latest_start(at_ms: int, before: dict[int, int], step: Step) -> int | None:
    """The latest first-step instant of the runs the step at ``at_ms`` continues (the one
    most likely to fit the conversion window), None when it continues none."""
    starts = [start for p, start in before.items()
              if p <= at_ms and (step.gap_ms is None or at_ms - p <= step.gap_ms)]  # fmt: skip
    return max(starts, default=None)


def build_sequence(spec: Mapping[str, Any], where: str) -> Sequence:
    steps_spec = spec["steps"]
    if not 2 <= len(steps_spec) <= MAX_STEPS:
        raise InvalidDefinition(f"{where}.steps: from 2 to {MAX_STEPS} steps")
    if "within" in steps_spec[0]:
        raise InvalidDefinition(
            f"{where}.steps[0]: the first step has no 'within' (a step's is its longest gap "
            "after the previous one); put the sequence's own 'within' beside 'steps'"
        )
    steps = tuple(
        Step(RecentFeature(build_matcher(s, f"{where}.steps[{i}]")),
             _span(s.get("within"), f"{where}.steps[{i}]"))
        for i, s in enumerate(steps_spec)
    )  # fmt: skip
    never_spec = spec.get("not_followed_by")
    never = None if never_spec is None else RecentFeature(build_matcher(never_spec, where))
    deadline = 0
    if never_spec is not None:
        deadline = _span(never_spec.get("within"), f"{where}.not_followed_by") or 0
        if not deadline:
            raise InvalidDefinition(
                f"{where}.not_followed_by: needs 'within: {{last: N}}', the deadline after "
                "the last step"
            )
    span = _span(spec.get("within"), where)
    return Sequence(steps, span, never, deadline, text_of({"sequence": spec}))


def _span(window: Mapping[str, Any] | None, where: str) -> int | None:
    """A step's or the sequence's ``within``: only ``last`` N units means something here."""
    if window is None:
        return None
    built = build_window(window, where)
    if built.last_ms is None or built.offset_ms:
        raise InvalidDefinition(f"{where}.within: a sequence takes 'last: N' (and 'unit') only")
    return built.last_ms
