"""The registry a worker builds from segments-topic records."""

import orjson
import pytest

from traitflow.exceptions import InvalidDefinition
from traitflow.segments import Registry, computed_from_spec, segment_from_spec
from traitflow.segments.replay import definition_features

TRIAL = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
RICH = {
    "key": "rich",
    "condition": {
        "and": [{"trait": "plan", "op": "exists"}, {"trait": "ltv", "op": ">", "value": 9}]
    },
}


def test_index_finds_segments_reading_a_trait() -> None:
    registry = Registry([segment_from_spec(TRIAL), segment_from_spec(RICH)])
    assert registry.affected({("trait", "plan")}) == {"rich", "trial"}
    assert registry.affected({("trait", "ltv")}) == {"rich"}
    assert registry.affected({("trait", "email")}) == set()


def test_records_apply_replace_and_tombstones_delete() -> None:
    registry = Registry()
    registry.apply_record(b"trial", orjson.dumps(TRIAL))
    changed = {**TRIAL, "condition": {"trait": "tier", "op": "exists"}}
    registry.apply_record(b"trial", orjson.dumps(changed))
    assert registry.affected({("trait", "plan")}) == set()
    assert registry.affected({("trait", "tier")}) == {"trial"}
    registry.apply_record(b"trial", None)
    assert len(registry) == 0


def test_invalid_records_are_skipped_not_fatal() -> None:
    registry = Registry()
    registry.apply_record(b"x", b"{not json")
    registry.apply_record(b"y", orjson.dumps({"key": "y"}))
    registry.apply_record(None, orjson.dumps(TRIAL))
    assert len(registry) == 0


def test_feature_ids_are_the_same_in_every_process_and_release() -> None:
    """Stored state is keyed by these ids: one that changed (with a restart, or an
    upgrade) would orphan every person's counts. Filters are spelled by operator and
    operand, never by the compiled predicate (whose repr named a memory address)."""
    specs = [
        {"key": "a", "condition": {"event": "X", "count": {"at_least": 2}, "within": {"last": 7}}},
        {"key": "b", "condition": {"event": "$visit"}},
        {"key": "c", "condition": {"event": "Y",
                                   "where": [{"property": "p", "op": "=", "value": 1}],
                                   "within": {"from": "2026-01-01", "to": "2026-02-01"}}},
    ]  # fmt: skip
    found = [definition_features(segment_from_spec(spec))[0].id for spec in specs]
    again = [definition_features(segment_from_spec(spec))[0].id for spec in specs]
    assert found == again == ["390cd6c7445ae4aa", "b9d80e7f576eeb28", "a4ebe46efd7b2cf6"]
    spend = {"key": "s", "event": "O", "aggregate": "sum", "property": "t", "within": {"last": 3}}
    assert computed_from_spec(spend).feature.id == "90f0131918809f7f"


def test_segments_reading_features_are_remembered_until_the_definitions_change() -> None:
    counts = {"key": "buyers", "condition": {"event": "Order Completed"}}
    registry = Registry([segment_from_spec(counts)])
    [feature] = registry.feature_ids()
    first = registry.reading([feature])
    assert first == {"buyers"} and registry.reading({feature}) is first  # asked per message
    registry.put(segment_from_spec({"key": "fans", "condition": {"segment": "buyers"}}))
    assert registry.reading([feature]) == {"buyers", "fans"}  # a change forgets the answer


def test_an_unreadable_record_keeps_the_last_good_version_and_says_why() -> None:
    registry = Registry()
    registry.apply_record(b"trial", orjson.dumps(TRIAL), 1)
    registry.apply_record(b"trial", b"\xff not json", 2)
    assert registry.get("trial") is not None  # the last good version stays
    assert "trial" in registry.unreadable and registry.version == 2
    registry.apply_record(b"trial", orjson.dumps(TRIAL), 3)
    assert registry.unreadable == {}


def test_replay_headers_of_any_shape_are_read_totally() -> None:
    registry = Registry()
    odd: list[object] = [("traitflow-replay", None), ("lonely",), ("traitflow-replay", b"[1]")]
    registry.apply_record(b"trial", orjson.dumps(TRIAL), 1, odd)  # type: ignore[arg-type]
    assert registry.get("trial") is not None and registry.replays == {}


def chain(length: int) -> list[bytes]:
    """Segment s0 refers to s1, which refers to s2 ... (records, the deepest first)."""
    records = [orjson.dumps({"key": f"s{length - 1}", "condition": TRIAL["condition"]})]
    for n in range(length - 2, -1, -1):
        spec = {"key": f"s{n}", "condition": {"segment": f"s{n + 1}"}}
        records.append(orjson.dumps(spec))
    return records


def test_a_chain_of_1000_references_is_refused_past_64_without_recursion() -> None:
    """Such a chain on the segments topic once crash-looped every worker (RecursionError)."""
    registry = Registry()
    for n, value in enumerate(chain(1000)):
        registry.apply_record(orjson.loads(value)["key"].encode(), value, n)
    assert registry.rank("s935") == 64 and "s934" in registry.unreadable
    assert "64" in registry.unreadable["s934"]
    top_first = Registry()
    with top_first.batch():  # the worker's feed applies a topic's records in one batch
        for n, value in enumerate(reversed(chain(1000))):
            top_first.apply_record(orjson.loads(value)["key"].encode(), value, n)
    assert top_first.rank("s0") == 999  # held as given: no stack overflow


def test_cycles_are_named_without_recursion() -> None:
    registry = Registry()
    for n, value in enumerate(chain(60)):
        registry.apply_record(orjson.loads(value)["key"].encode(), value, n)
    with pytest.raises(InvalidDefinition, match="cycle: s59 -> s0 -> s1 -> s2"):
        registry.put(segment_from_spec({"key": "s59", "condition": {"segment": "s0"}}))
