"""The registry a worker builds from segments-topic records."""

import orjson

from traitflow.segments import Registry, segment_from_spec

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
