"""Trait merging: latest wins per trait, blanks never erase, the unset marker does."""

from hypothesis import given
from hypothesis import strategies as st

from traitflow.profiles import Membership, Profile, apply_traits, join_import, observe

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


def test_observe_tracks_activity_identifiers_and_built_in_traits() -> None:
    profile = Profile("u1")
    context = {"os": {"name": "iOS"}, "location": {"country": "FR", "city": "Lyon"}}
    changed = observe(profile, {"context": context}, 200, "u1", None)
    assert changed == {"$first_seen", "$last_seen", "$os", "$country", "$city"}
    older = {"context": {"os": {"name": "Android"}}}
    assert observe(profile, older, 100, None, "a1") == {"$first_seen"}
    assert (profile.first_seen_ms, profile.last_seen_ms) == (100, 200)
    assert (profile.user_id, profile.anonymous_id) == ("u1", "a1")
    assert profile.derived["$os"] == "iOS"
    assert profile.derived["$last_seen"] == "1970-01-01T00:00:00.200Z"


def test_an_import_is_joined_once() -> None:
    profile = Profile("u1")
    body = {"context": {"traitflow": {"import": "crm-2026-11"}}}
    assert join_import(profile, body) == "crm-2026-11"
    assert join_import(profile, body) is None
    assert profile.imports == ["crm-2026-11"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(min_size=1), json_values, max_size=5), st.booleans())
def test_bytes_round_trip(traits: dict[str, object], member: bool) -> None:
    profile = Profile("u1", user_id="u1", traits=traits, trait_times=dict.fromkeys(traits, 5))
    profile.memberships["s"] = Membership(member, 3, 7)
    profile.features["f"] = [3, 2, 1]
    assert Profile.from_bytes(profile.to_bytes()) == profile
