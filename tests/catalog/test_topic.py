"""What ``segments apply`` says when the broker no longer holds a window's start."""

from __future__ import annotations

from traitflow.catalog.topic import gap_note

DAY_MS = 86_400_000


def test_a_partition_starting_after_the_window_is_named_with_both_instants() -> None:
    note = gap_note(3, 10 * DAY_MS, 3 * DAY_MS)
    assert note is not None
    assert "partition 3" in note and "1970-01-11" in note and "1970-01-04" in note


def test_a_partition_holding_the_window_start_says_nothing() -> None:
    assert gap_note(0, 3 * DAY_MS, 3 * DAY_MS) is None
    assert gap_note(0, DAY_MS, 3 * DAY_MS) is None


def test_a_partition_emptied_by_deletion_is_named() -> None:
    assert "no history" in (gap_note(1, None, 0) or "")
