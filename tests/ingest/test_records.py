"""The one reader of events records: total over any key, value and headers."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from traitflow.ingest.bundles import bundle_size
from traitflow.ingest.records import (
    BUNDLE_HEADER,
    FORWARDED_HEADER,
    KIND_HEADER,
    LINES_PER_POSITION,
    Command,
    Line,
    Messages,
    Unreadable,
    read_events_record,
    record_kind,
)

NAMES = st.sampled_from([KIND_HEADER, BUNDLE_HEADER, FORWARDED_HEADER, "other", "x" * 300])
VALUES = st.one_of(st.none(), st.binary(max_size=64), st.just(b"9" * 5000))
HEADER = st.one_of(
    st.tuples(NAMES, VALUES),
    st.tuples(NAMES.map(str.encode), VALUES),
    st.just(("lonely",)),
    st.just(None),
    st.integers(),
)


@settings(max_examples=400)
@given(
    key=st.one_of(st.none(), st.binary(max_size=40)),
    value=st.one_of(st.none(), st.binary(max_size=200)),
    headers=st.one_of(st.none(), st.lists(HEADER, max_size=5), st.dictionaries(NAMES, VALUES)),
)
def test_reading_never_raises(key: bytes | None, value: bytes | None, headers: Any) -> None:
    read = read_events_record(key, value, headers)
    assert isinstance(read, Messages | Command | Unreadable)
    record_kind(headers)  # the batcher asks this of every record, outside any guard
    bundle_size(headers)


def test_a_bundle_count_of_thousands_of_digits_is_a_bundle_not_a_crash() -> None:
    headers = [(BUNDLE_HEADER, b"9" * 5000)]
    read = read_events_record(None, b"{}\n{}", headers)
    assert read == Messages([Line(None, None, b"{}", 0), Line(None, None, b"{}", 1)])
    assert bundle_size(headers) == 0  # no count: a bundle all the same


def test_null_header_values_read_as_empty() -> None:
    assert read_events_record(b"k", b"{}", [(BUNDLE_HEADER, None)]) == Messages(
        [Line(None, None, b"{}", 0)]
    )
    assert record_kind([(KIND_HEADER, None)]) == ""
    assert read_events_record(b"k", b"{}", [(KIND_HEADER, None)]) == Command("", b"{}")


def test_a_plain_message_keeps_its_key_and_forwarded_kind() -> None:
    headers = {FORWARDED_HEADER: b"anonymous"}
    assert read_events_record(b"ada", b"{}", headers) == Messages(
        [Line(b"ada", "anonymous", b"{}", 0)]
    )


def test_what_cannot_be_read_says_why() -> None:
    cases = [
        (b"k", None, None, "empty_record", "without a value"),
        (b"k", b"{}", [(FORWARDED_HEADER, b"boss")], "invalid_record", "'boss'"),
        (None, b"{}", [(FORWARDED_HEADER, b"user")], "invalid_record", "without a key"),
        (b"k", b"{}", [(KIND_HEADER, b"t" * 100)], "unknown_record_kind", "100 bytes"),
        (
            None,
            b"\n".join([b"{}"] * (LINES_PER_POSITION + 1)),
            [(BUNDLE_HEADER, b"1")],
            "invalid_bundle",
            f"at most {LINES_PER_POSITION}",
        ),
    ]
    for key, value, headers, kind, words in cases:
        read = read_events_record(key, value, headers)
        assert isinstance(read, Unreadable), (key, headers)
        assert read.kind == kind and words in read.reason, read


def test_the_first_of_repeated_headers_counts() -> None:
    headers = [(KIND_HEADER, b"tick"), (KIND_HEADER, b"sweep")]
    assert record_kind(headers) == "tick"
