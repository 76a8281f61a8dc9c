"""Member counts: counted once per partition, then moved by transitions."""

from __future__ import annotations

from collections import Counter

from traitflow.worker.counts import MembershipCounts, count_members


def test_count_members_reads_recorded_memberships() -> None:
    stored = [
        {"trial": {"member": True}, "vip": {"member": False}},
        {"trial": {"member": True}},
        {},
    ]
    assert count_members(stored) == Counter(trial=2)


def test_partitions_are_scanned_once_then_follow_transitions() -> None:
    scans: list[int] = []

    def scan(partition: int) -> Counter[str]:
        scans.append(partition)
        return Counter(trial=5)

    counts = MembershipCounts(scan)
    counts.observe(0, [{"segment": "trial", "type": "audience.entered"}])  # not counted yet
    assert counts.of([0])[0]["trial"] == 5
    counts.observe(0, [{"segment": "trial", "type": "audience.exited"}])
    counts.observe(0, [{"segment": "vip", "type": "audience.entered"}])
    assert counts.of([0])[0] == Counter(trial=4, vip=1)
    assert scans == [0]
    counts.forget()  # a rebalance
    assert counts.of([0, 1])[1]["trial"] == 5
    assert scans == [0, 0, 1]
