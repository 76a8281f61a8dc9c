"""Event time as integer milliseconds since the epoch, printed as ISO-8601 UTC."""

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_MS = 0  # 1970-01-01: the instants traitflow stores and schedules start here
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last ISO-8601 can write
_MILLISECOND = timedelta(milliseconds=1)


def iso_from_ms(ms: int) -> str:
    """``2026-11-23T08:00:00.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    """Messages of a stream are close in time: most stamps share a second with a recent
    one. Others take the time of day by arithmetic and the date from a cache of its own
    (half the cost of a datetime)."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{_iso_day(days)}T{hours:02d}:{minutes:02d}:{secs:02d}"


@lru_cache(maxsize=1024)
def _iso_day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).date().isoformat()


def now_ms() -> int:
    return time.time_ns() // 1_000_000  # read per message: no datetime built


def ms_from_iso(stamp: str) -> int:
    """Milliseconds of an ISO-8601 instant; one without a zone is taken as UTC.

    Raises ``ValueError`` for text that is not an ISO-8601 date-time.
    """
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND  # exact: floats lose a millisecond
