"""Admin API bodies: member counts merged over workers, each partition counted once."""

from __future__ import annotations

from collections import Counter

from traitflow.admin.documents import counts_document, merge_counts
from traitflow.segments import Registry, segment_from_spec


def registry() -> Registry:
    found = Registry()
    for key in ("trial", "vip"):
        spec = {"key": key, "condition": {"trait": "plan", "op": "=", "value": key}}
        found.put(segment_from_spec(spec))
    return found


def test_counts_name_every_live_segment_and_the_missing_partitions() -> None:
    document = counts_document(registry(), {0: Counter(trial=3), 2: Counter(trial=1, vip=2)}, 4)
    assert [(s["key"], s["members"]) for s in document["segments"]] == [("trial", 4), ("vip", 2)]
    assert document["partitions"] == {"counted": [0, 2], "missing": [1, 3]}


def test_merging_workers_counts_each_partition_once() -> None:
    first = counts_document(registry(), {0: Counter(trial=3)}, 2)
    second = counts_document(registry(), {1: Counter(trial=1)}, 2)
    stale = counts_document(registry(), {0: Counter(trial=99)}, 2)  # mid-rebalance overlap
    merged = merge_counts(registry(), [first, second, stale], 2)
    assert merged["segments"][0]["members"] == 4
    assert merged["partitions"]["missing"] == []


def test_a_dead_letter_naming_a_suppressed_person_shows_neither_key_nor_bytes() -> None:
    from aiokafka import ConsumerRecord

    from traitflow.admin.documents import dead_letter_document
    from traitflow.privacy.suppressions import Suppressions

    suppressed = Suppressions(identity_traits=["email"])
    suppressed.add(["ada", "email:ada@example.com"], "r1")
    headers = [("traitflow-reason", b"not JSON"), ("traitflow-original-bytes", None)]

    def letter(key: bytes | None, value: bytes) -> dict[str, object]:
        record = ConsumerRecord("t-deadletter", 0, 7, 0, 0, key, value, None, 0, 0, headers)
        return dict(dead_letter_document(record, suppressed))

    hidden = letter(b"ada", b'{"userId": "ada", "traits": {"email": "ada@example.com"}}')
    assert hidden["key"] is None and "ada" not in str(hidden["preview"])
    by_email = letter(
        None, b'{"type":"identify","userId":"new","traits":{"email":"ADA@example.com"}}'
    )
    assert "redacted" in str(by_email["preview"])
    shown = letter(b"bob", b"{oops bob")
    assert (shown["key"], shown["preview"], shown["reason"]) == ("bob", "{oops bob", "not JSON")


def test_a_dead_letter_of_a_person_deleted_since_is_hidden_not_one_after() -> None:
    from aiokafka import ConsumerRecord

    from traitflow.admin.documents import dead_letter_document
    from traitflow.privacy.suppressions import id_hash

    def letter(at_ms: int) -> dict[str, object]:
        record = ConsumerRecord("t-dl", 0, 1, at_ms, 0, None, b'{"userId": " bob"}', None, 0, 0, [])
        return dict(dead_letter_document(record, None, {id_hash("bob"): 5_000}))

    assert "redacted" in str(letter(4_000)["preview"])  # refused, then bob was deleted
    assert "bob" in str(letter(6_000)["preview"])  # a new bob's, after the deletion
