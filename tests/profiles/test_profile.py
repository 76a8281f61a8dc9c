"""Trait merging: latest wins per trait, blanks never erase, the unset marker does."""

from hypothesis import given
from hypothesis import strategies as st

from traitflow.profiles import Membership, Profile, apply_traits

MARKER = "__null__"


def test_new_traits_are_stored_and_reported_changed() -> None:
    profile = Profile("u1")
    assert apply_traits(profile, {"plan": "trial", "seats": 2}, 100, MARKER) == {"plan", "seats"}
    assert profile.traits == {"plan": "trial", "seats": 2}


def test_same_value_is_not_a_change() -> None:
    profile = Profile("u1")
    apply_traits(profile, {"plan": "trial"}, 100, MARKER)
    assert apply_traits(profile, {"plan": "trial"}, 200, MARKER) == set()


def test_a_type_change_is_a_change() -> None:
    profile = Profile("u1")
    apply_traits(profile, {"vip": 1}, 100, MARKER)
    assert apply_traits(profile, {"vip": True}, 200, MARKER) == {"vip"}


def test_older_value_never_overwrites_a_newer_one() -> None:
    profile = Profile("u1")
    apply_traits(profile, {"plan": "annual"}, 200, MARKER)
    assert apply_traits(profile, {"plan": "trial"}, 100, MARKER) == set()
    assert profile.traits["plan"] == "annual"


def test_null_and_blank_never_erase() -> None:
    profile = Profile("u1")
    apply_traits(profile, {"email": "a@example.com", "name": "Ada"}, 100, MARKER)
    assert apply_traits(profile, {"email": None, "name": "  "}, 200, MARKER) == set()
    assert profile.traits == {"email": "a@example.com", "name": "Ada"}


def test_unset_marker_erases() -> None:
    profile = Profile("u1")
    apply_traits(profile, {"email": "a@example.com"}, 100, MARKER)
    assert apply_traits(profile, {"email": MARKER}, 200, MARKER) == {"email"}
    assert "email" not in profile.traits


def test_seen_tracks_first_and_last_activity_and_identifiers() -> None:
    profile = Profile("u1")
    profile.seen(200, "u1", None)
    profile.seen(100, None, "a1")
    assert (profile.first_seen_ms, profile.last_seen_ms) == (100, 200)
    assert (profile.user_id, profile.anonymous_id) == ("u1", "a1")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(min_size=1), json_values, max_size=5), st.booleans())
def test_bytes_round_trip(traits: dict[str, object], member: bool) -> None:
    profile = Profile("u1", user_id="u1", traits=traits, trait_times=dict.fromkeys(traits, 5))
    profile.memberships["s"] = Membership(member, 3, 7, "rev1")
    assert Profile.from_bytes(profile.to_bytes()) == profile
