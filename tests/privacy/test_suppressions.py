"""The suppression list: hashes only, groups lifted together, nothing hashed when empty."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from traitflow.privacy.suppressions import (
    Suppressions,
    UnreadableSuppression,
    id_hash,
    suppression_record,
)


def test_the_list_holds_hashes_of_ids_never_the_ids() -> None:
    key, value = suppression_record("ada@example.com", "r1", 5)
    assert key == hashlib.sha256(b"traitflow-id\x00ada@example.com").hexdigest().encode()
    assert b"ada" not in key + value and orjson.loads(value) == {"group": "r1", "at_ms": 5}


def test_a_message_naming_any_suppressed_id_is_covered() -> None:
    suppressions = Suppressions()
    suppressions.apply([suppression_record("anon-1", "r1", 0)])
    assert suppressions.covers_message({"userId": "ada", "anonymousId": "anon-1"})
    assert suppressions.covers_message({"type": "alias", "userId": "x", "previousId": "anon-1"})
    assert not suppressions.covers_message({"userId": "ada"})


def test_tombstones_lift_and_groups_name_the_ids_deleted_together() -> None:
    suppressions = Suppressions()
    suppressions.add(["ada", "anon-1"], "r1")
    suppressions.add(["bob"], "r2")
    assert suppressions.group_of("anon-1") == "r1"
    assert suppressions.keys_of_group("r1") == sorted([id_hash("ada"), id_hash("anon-1")])
    suppressions.apply([(id_hash("ada").encode(), None)])
    assert (
        not suppressions.covers("ada") and suppressions.covers("anon-1") and len(suppressions) == 2
    )


def test_an_empty_list_covers_nothing() -> None:
    suppressions = Suppressions()
    assert not suppressions.covers_message({"userId": "ada"}) and suppressions.group_of("x") is None


def test_ids_are_checked_as_the_worker_stores_them() -> None:
    """Spaces around a userId and the identifying traits of any message: a deleted and
    suppressed person does not come back as ``"ada "`` or through their email."""
    suppressions = Suppressions(identity_traits=["email"])
    suppressions.add(["ada", "email:ada@example.com", "42"], "r1")
    assert suppressions.covers_message({"userId": "ada "})
    assert suppressions.covers_message({"userId": 42})
    assert suppressions.covers_message(
        {"type": "identify", "userId": "new", "traits": {"email": " Ada@Example.com"}}
    )
    assert suppressions.covers_message(
        {"userId": "new", "context": {"traits": {"email": "ADA@example.com"}}}
    )
    assert not suppressions.covers_message({"userId": "new", "traits": {"email": "b@x.com"}})


def test_an_unreadable_record_fails_closed() -> None:
    suppressions = Suppressions()
    key = id_hash("ada").encode()
    with pytest.raises(UnreadableSuppression):
        suppressions.apply_one(key, b"\xff{not json")
    assert suppressions.covers("ada")  # suppressed all the same
    with pytest.raises(UnreadableSuppression):
        suppressions.apply_one(id_hash("bob").encode(), b'{"group": 7}')
    assert suppressions.covers("bob")
    with pytest.raises(UnreadableSuppression):
        suppressions.apply_one(None, b"{}")
