"""A clock for unit and agent tests."""

from __future__ import annotations


class ManualClock:
    """For unit and agent tests: time moves only when told."""

    def __init__(self, start_ms: int) -> None:
        self.current = start_ms

    def now_ms(self) -> int:
        return self.current

    def advance(self, ms: int) -> None:
        self.current += ms
