"""The worker's clock, injectable so that tests move time instead of sleeping.

``SystemClock`` in production. ``FileClock`` reads the time from a file (milliseconds since
the epoch) that a test or a demo rewrites: setting ``clock_file`` selects it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from traitflow.timeutil import now_ms


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return now_ms()


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def now_ms(self) -> int:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return now_ms()


def clock_for(path: Path | None) -> Clock:
    return FileClock(path) if path is not None else SystemClock()
