"""A compacted feed applies every record it can, skips and counts the others."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from traitflow.broker.feed import CompactedFeed, Record
from traitflow.exceptions import UnreadableRecord


def record(offset: int, key: bytes | None, value: bytes | None) -> Record:
    return ConsumerRecord("t-feed", 0, offset, 0, 0, key, value, None, 0, 0, [])


def test_a_record_that_fails_is_skipped_counted_and_named() -> None:
    applied: list[bytes | None] = []

    def apply_one(found: Record) -> None:
        if found.value == b"bad":
            raise UnreadableRecord("not a record this feed reads")
        if found.value == b"boom":
            raise RecursionError("deep")
        applied.append(found.key)

    feed = CompactedFeed({}, "t-feed", apply_one)
    feed.apply([record(0, b"a", b"ok"), record(1, b"b", b"bad"), record(2, b"c", b"boom"),
                record(3, b"d", b"ok")])  # fmt: skip
    assert applied == [b"a", b"d"]
    assert feed.skipped == 2 and feed.last_skipped is not None
    assert feed.last_skipped.startswith("t-feed/0/2: ")
    assert not feed.following  # never read to its end
