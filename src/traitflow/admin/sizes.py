"""Segment sizes over time: each worker samples the member counts of its partitions now
and then, and the admin API sums the workers' samples of the same minute.

The history is small and in memory (``MAX_SAMPLES`` per worker): a line to draw in the
console, not a store of record. It starts over when a worker restarts, and around a
rebalance a sample may miss (or twice count) a partition that was moving.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from typing_extensions import TypedDict

MAX_SAMPLES = 360
MINUTE_MS = 60_000


class SizePoint(TypedDict):
    at_ms: int
    members: int


class SizesView(TypedDict):
    """A segment's members minute by minute (the samples the workers keep)."""

    segment: str
    points: list[SizePoint]


class SizeHistory:
    """The latest ``MAX_SAMPLES`` samples of one worker: (minute, members per segment)."""

    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self._samples: deque[tuple[int, dict[str, int]]] = deque(maxlen=max_samples)

    def record(self, at_ms: int, members: Mapping[str, int]) -> None:
        """Keep one sample per minute: a later one in the same minute replaces it."""
        minute = at_ms - at_ms % MINUTE_MS
        if self._samples and self._samples[-1][0] == minute:
            self._samples.pop()
        self._samples.append((minute, dict(members)))

    def series(self, segment: str) -> list[SizePoint]:
        return [{"at_ms": at, "members": found.get(segment, 0)} for at, found in self._samples]


def merge_series(series: Iterable[Iterable[Mapping[str, Any]]]) -> list[SizePoint]:
    """Workers' series of one segment summed minute by minute (a minute some worker did not
    sample counts what the others had)."""
    totals: dict[int, int] = {}
    for points in series:
        for point in points:
            at = int(point["at_ms"])
            totals[at] = totals.get(at, 0) + int(point["members"])
    return [{"at_ms": at, "members": members} for at, members in sorted(totals.items())]
