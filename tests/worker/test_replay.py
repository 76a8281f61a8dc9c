"""What a partition pauses while it replays history, from its rows of the replays table."""

from __future__ import annotations

import orjson

from traitflow.identity.ids import Identifier, Pointer
from traitflow.jobs import ReplayItem
from traitflow.segments import Registry, segment_from_spec
from traitflow.segments.replay import Replay, replay_header
from traitflow.worker.replay import ReplayStates, bounded_runs
from traitflow.worker.store.profiles import ProfileStore

TWICE = {
    "key": "twice",
    "condition": {"event": "Pricing", "types": ["page"], "count": {"at_least": 2}},
}


def test_features_wait_for_the_barrier_and_segments_for_every_partition() -> None:
    feature = segment_from_spec(TWICE).condition.feature.id  # type: ignore[union-attr]
    registry = Registry()
    header = replay_header(Replay("r1", frozenset({feature}), 0))
    registry.apply_record(b"twice", orjson.dumps(TWICE), 0, [header])
    states = ReplayStates(ProfileStore({}, {}, {}, {}))

    before = states.paused(registry, 0)
    assert (before.features, before.segments) == ({feature}, {"twice"})
    states.put(0, "r1", {"barrier": 7, "next": 0})
    after_barrier = states.paused(registry, 0)
    assert (after_barrier.features, after_barrier.segments) == (set(), {"twice"})
    assert states.paused(registry, 1).features == {feature}  # partitions are apart
    states.put(0, "r1", {"barrier": 7, "complete": True})
    assert states.paused(registry, 0).segments == frozenset()


def test_rows_are_read_back_from_the_table_after_a_rebalance() -> None:
    store = ProfileStore({}, {}, {}, {})
    ReplayStates(store).put(1, "r1", {"barrier": 3})
    store.seal()
    states = ReplayStates(store)
    states.forget()
    assert states.get(1, "r1") == {"barrier": 3}
    assert states.get(0, "r1") == {}


def test_items_are_sent_in_records_of_bounded_size() -> None:
    items = [ReplayItem("a", "a", 0, n, "track", 0, {"x": "y" * 1000}) for n in range(600)]
    runs = bounded_runs(items, 256 * 1024)
    assert [i for run in runs for i in run] == items  # all, in order
    assert len(runs) > 1 and all(len(orjson.dumps(run)) < 300 * 1024 for run in runs)
    assert bounded_runs([], 10) == []


def test_a_deletion_mark_outlives_pointers_and_hides_nothing_live() -> None:
    """The mark a deletion leaves on an id: read by replays only; a pointer written or
    dropped later keeps it; to the live path the id is its own person."""
    store = ProfileStore({}, {}, {}, {})
    store.erase_history("bob", 700)
    assert store.canonical_of("bob") is None and store.erased_before("bob") == 700
    store.point("bob", Pointer(Identifier("robert", "user"), "user", 900))
    pointer = store.canonical_of("bob")
    assert pointer is not None and pointer.to.value == "robert"
    assert store.erased_before("bob") == 700
    store.unpoint("bob")
    assert store.canonical_of("bob") is None and store.erased_before("bob") == 700
    store.erase_history("bob", 500)  # an older position never moves the mark back
    assert store.erased_before("bob") == 700 and store.erased_before("ada") == -1


def test_rocksdbs_own_faults_are_told_from_the_inputs() -> None:
    from traitflow.worker.store.rocksdb import is_storage_fault

    assert is_storage_fault(Exception("Corruption: block checksum mismatch: stored = 1"))
    assert is_storage_fault(Exception("IO error: No such file or directory"))
    assert not is_storage_fault(ValueError("not JSON: Corruption"))
