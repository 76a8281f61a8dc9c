"""Event time as integer milliseconds since the epoch, printed as ISO-8601 UTC."""

from datetime import UTC, datetime


def iso_from_ms(ms: int) -> str:
    """``2026-11-23T08:00:00.123Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def ms_from_iso(stamp: str) -> int:
    """Milliseconds of an ISO-8601 instant; one without a zone is taken as UTC.

    Raises ``ValueError`` for text that is not an ISO-8601 date-time.
    """
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
