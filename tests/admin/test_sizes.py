"""Segment sizes over time: one sample a minute per worker, summed over workers."""

from __future__ import annotations

from traitflow.admin.sizes import MINUTE_MS, SizeHistory, merge_series


def test_a_later_sample_of_the_same_minute_replaces_the_earlier() -> None:
    history = SizeHistory(max_samples=3)
    history.record(10 * MINUTE_MS + 5, {"trial": 1})
    history.record(10 * MINUTE_MS + 50_000, {"trial": 2})
    history.record(11 * MINUTE_MS, {"trial": 3, "vip": 1})
    assert history.series("trial") == [
        {"at_ms": 10 * MINUTE_MS, "members": 2},
        {"at_ms": 11 * MINUTE_MS, "members": 3},
    ]
    assert history.series("vip")[0]["members"] == 0


def test_the_history_keeps_only_the_latest_samples() -> None:
    history = SizeHistory(max_samples=2)
    for minute in range(5):
        history.record(minute * MINUTE_MS, {"trial": minute})
    assert [point["members"] for point in history.series("trial")] == [3, 4]


def test_workers_series_are_summed_minute_by_minute() -> None:
    a = [{"at_ms": 0, "members": 2}, {"at_ms": MINUTE_MS, "members": 3}]
    b = [{"at_ms": MINUTE_MS, "members": 10}]
    assert merge_series([a, b]) == [
        {"at_ms": 0, "members": 2},
        {"at_ms": MINUTE_MS, "members": 13},
    ]
