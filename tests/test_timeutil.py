"""Event time printing: exact to the millisecond, for any instant."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from traitflow.timeutil import iso_from_ms, ms_from_iso

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=-(10**12), max_value=10**13))
def test_iso_from_ms_is_exact_and_round_trips(ms: int) -> None:
    expected = (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")
    assert iso_from_ms(ms) == expected.replace("+00:00", "Z")
    assert ms_from_iso(iso_from_ms(ms)) == ms


def test_iso_from_ms_example() -> None:
    assert iso_from_ms(1_795_420_800_123) == "2026-11-23T08:00:00.123Z"
