"""Members per segment on this worker's partitions, for the admin API and a gauge.

A partition is counted once from its stored profiles, when first asked, then kept exact
by the transitions the worker publishes (both run on the event loop, so none slips in
between). Counts are forgotten at each rebalance: another worker may have owned the
partition meanwhile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

ENTERED = "audience.entered"


class MembershipCounts:
    def __init__(self, scan: Callable[[int], Counter[str]]) -> None:
        self._scan = scan
        self._by_partition: dict[int, Counter[str]] = {}

    def of(self, partitions: Iterable[int]) -> dict[int, Counter[str]]:
        """Members per segment of each partition, counting those not yet counted."""
        for partition in partitions:
            if partition not in self._by_partition:
                self._by_partition[partition] = self._scan(partition)
        return {p: self._by_partition[p] for p in partitions}

    def observe(self, partition: int, events: list[dict[str, Any]]) -> None:
        counted = self._by_partition.get(partition)
        if counted is None:
            return
        for event in events:
            if _ends_an_absorbed_membership(event):
                continue  # counted off where the absorbed profile lived (``drop``)
            counted[str(event["segment"])] += 1 if event["type"] == ENTERED else -1

    def drop(self, partition: int, profile: Any) -> None:
        """A profile left the partition (merged into another person's)."""
        counted = self._by_partition.get(partition)
        if counted is None:
            return
        for key, membership in profile.memberships.items():
            if membership.member:
                counted[key] -= 1

    def forget(self) -> None:
        self._by_partition.clear()


def count_members(memberships: Iterable[dict[str, Any]]) -> Counter[str]:
    """Members per segment among stored profiles' ``memberships`` maps."""
    counted: Counter[str] = Counter()
    for membership in memberships:
        counted.update(key for key, state in membership.items() if state.get("member"))
    return counted


def _ends_an_absorbed_membership(event: dict[str, Any]) -> bool:
    merged = event.get("cause", {}).get("merged")
    return bool(merged) and merged.get("from") == event.get("person")
