"""messageId deduplication: a window, a bound, and merges that keep both memories."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from traitflow.identity.ids import Pointer
from traitflow.identity.resolver import Absorb, IdentityRules, Resolver
from traitflow.ingest.messages import parse_message
from traitflow.profiles import Profile
from traitflow.profiles.dedup import Dedup, digest
from traitflow.segments import Registry

HOUR = 3_600_000


def test_an_id_is_a_repeat_within_the_window_only() -> None:
    dedup = Dedup(window_ms=24 * HOUR, max_ids=10)
    profile = Profile(person="u")
    dedup.remember(profile, "m1", now_ms=0)
    assert dedup.is_repeat(profile, "m1", now_ms=23 * HOUR)
    assert not dedup.is_repeat(profile, "m2", now_ms=HOUR)
    assert not dedup.is_repeat(profile, "m1", now_ms=25 * HOUR)
    dedup.remember(profile, "m2", now_ms=25 * HOUR)
    assert len(profile.recent_ids) == 1  # m1 forgotten past the window


def test_the_newest_ids_are_kept_within_the_bound() -> None:
    dedup = Dedup(window_ms=24 * HOUR, max_ids=3)
    profile = Profile(person="u")
    for n in range(5):
        dedup.remember(profile, f"m{n}", now_ms=n)
    assert len(profile.recent_ids) == 3
    assert [dedup.is_repeat(profile, f"m{n}", 5) for n in range(5)] == [False, False] + [True] * 3


def test_a_bound_of_one_keeps_only_the_last_id() -> None:
    dedup = Dedup(window_ms=24 * HOUR, max_ids=1)
    profile = Profile(person="u")
    for n in range(3):
        dedup.remember(profile, f"m{n}", now_ms=n)
    assert [dedup.is_repeat(profile, f"m{n}", 5) for n in range(3)] == [False, False, True]


def test_a_zero_window_turns_deduplication_off() -> None:
    dedup = Dedup(window_ms=0, max_ids=3)
    profile = Profile(person="u")
    dedup.remember(profile, "m1", now_ms=0)
    assert not dedup.is_repeat(profile, "m1", now_ms=0)
    assert profile.recent_ids == {}


class Tables:
    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.identities: dict[str, Pointer] = {}

    def canonical_of(self, identifier: str) -> Pointer | None:
        return self.identities.get(identifier)

    def load(self, person: str) -> Profile | None:
        found = self.profiles.get(person)
        return Profile.from_bytes(found.to_bytes()) if found else None


def test_a_retry_under_the_survivor_after_a_merge_is_still_a_duplicate() -> None:
    """The first copy came under the anonymousId; the person merged into the userId."""
    tables = Tables()
    resolver = Resolver(tables, Registry(), IdentityRules())
    first = {"type": "track", "anonymousId": "anon", "event": "Paid", "messageId": "order-1"}
    message = parse_message(orjson.dumps(first), max_bytes=10_000, fallback_timestamp_ms=1)
    step = resolver.on_message("anon", None, message, now_ms=1000, position=0)
    [(anonymous, _)] = step.saves
    tables.profiles["user"] = Profile(person="user")
    absorb = Absorb("user", "user", orjson.loads(anonymous.to_bytes()))
    [(merged, _)] = resolver.on_absorb(absorb, now_ms=2000).saves
    tables.profiles["user"] = merged
    retry = resolver.on_message("user", "user", message, now_ms=3000, position=5)
    assert retry.duplicate and not retry.saves and not retry.events


def exact_pruned(dedup: Dedup, ids: dict[str, int], now_ms: int) -> dict[str, int]:
    """The reference: forget past the window by reading every id, then keep the newest."""
    live = {key: at for key, at in ids.items() if now_ms - at < dedup.window_ms}
    newest = sorted(live.items(), key=lambda item: item[1])
    return dict(newest[max(0, len(newest) - (dedup.max_ids - 1)) :])


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 12), st.integers(-3 * HOUR, 30 * HOUR)), min_size=1, max_size=40
    ),
    max_ids=st.integers(1, 6),
)
def test_pruning_from_the_oldest_first_answers_as_pruning_by_every_id(
    steps: list[tuple[int, int]], max_ids: int
) -> None:
    """Times may step back (a clock change): what is a repeat never differs, and the
    bound always holds."""
    dedup = Dedup(window_ms=24 * HOUR, max_ids=max_ids)
    profile, reference = Profile(person="u"), Profile(person="u")
    now = 0
    for n, (message, step) in enumerate(steps):
        now += step
        repeat = dedup.is_repeat(reference, f"m{message}", now)
        assert dedup.is_repeat(profile, f"m{message}", now) == repeat, n
        if not repeat:
            dedup.remember(profile, f"m{message}", now)
            reference.recent_ids = exact_pruned(dedup, reference.recent_ids, now)
            reference.recent_ids[digest(f"m{message}")] = now
        assert len(profile.recent_ids) <= max_ids


def test_a_merge_keeps_both_memories_oldest_first() -> None:
    dedup = Dedup(window_ms=24 * HOUR, max_ids=10)
    united = dedup.unite({"b": 5, "c": 1}, {"a": 3, "c": 2}, now_ms=10)
    assert list(united.items()) == [("c", 1), ("a", 3), ("b", 5)]
