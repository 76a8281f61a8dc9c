"""The schedule's keys: time order from 1970 to 9999, and keys of the old form moved."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from traitflow.profiles import Profile
from traitflow.timeutil import LATEST_MS
from traitflow.worker.store.profiles import (
    ProfileStore,
    person_of,
    schedule_key,
)

YEAR_2300_MS = 10_413_792_000_000  # 14 digits: sorted before every real instant as text


class MemoryTable(dict[bytes, bytes]):
    """A dict shaped like Faust's memory store (``data`` is the table itself)."""

    @property
    def data(self) -> Any:
        return self


@given(
    st.integers(0, LATEST_MS),
    st.integers(0, LATEST_MS),
    st.binary(min_size=1, max_size=20),
    st.binary(min_size=1, max_size=20),
)
def test_keys_sort_in_time_order_and_decode(a: int, b: int, p: bytes, q: bytes) -> None:
    if a < b:
        assert schedule_key(a, p) < schedule_key(b, q)
    assert person_of(schedule_key(a, p)) == (a, p)


def test_instants_outside_the_range_are_held_at_its_ends() -> None:
    assert person_of(schedule_key(-5, b"p")) == (0, b"p")
    assert person_of(schedule_key(10**18, b"p")) == (LATEST_MS, b"p")


def store() -> tuple[ProfileStore, MemoryTable]:
    schedule = MemoryTable()
    return ProfileStore(MemoryTable(), schedule), schedule


def test_a_far_future_instant_no_longer_hides_the_due_ones() -> None:
    found, schedule = store()
    schedule[schedule_key(YEAR_2300_MS, b"later")] = b""
    schedule[schedule_key(1_795_435_200_000, b"due")] = b""
    assert found.first_due(0) == 1_795_435_200_000
    assert found.due(0, 1_795_435_200_000, 10) == [(1_795_435_200_000, b"due")]


def test_a_profile_changed_but_not_saved_is_read_as_it_was_stored() -> None:
    """Within a batch a saved profile is handed back decoded (not decoded again); a caller
    that changes it and does not save (a refused message) leaves the stored one intact."""
    store = ProfileStore(MemoryTable(), MemoryTable())
    store.save(b"ada", Profile(person="ada", traits={"plan": "trial"}), None)
    first = store.load(b"ada")
    assert first is not None and first.traits == {"plan": "trial"}
    store.save(b"ada", first, None)
    again = store.load(b"ada")
    assert again is first  # the batch's saved profile, not a new decode
    again.traits["plan"] = "refused"  # changed, never saved
    after = store.load(b"ada")
    assert after is not None and after is not again and after.traits == {"plan": "trial"}


def test_sealed_abandoned_or_removed_profiles_are_decoded_from_what_is_stored() -> None:
    store = ProfileStore(MemoryTable(), MemoryTable())
    store.save(b"ada", Profile(person="ada", traits={"plan": "trial"}), None)
    store.seal()
    kept = store.load(b"ada")
    assert kept is not None
    kept.traits["plan"] = "paid"
    store.save(b"ada", kept, None)
    store.abandon()  # the open batch's write is forgotten: the sealed one is read
    reread = store.load(b"ada")
    assert reread is not None and reread is not kept and reread.traits == {"plan": "trial"}
    store.save(b"ada", reread, None)
    store.remove(reread, None)
    assert store.load(b"ada") is None
