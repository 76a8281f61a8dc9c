"""Suppression: ids whose later messages are dropped, kept as hashes, never as ids.

The list lives on a compacted topic (one record per suppressed id, keyed by its hash; an
``unsuppress`` writes tombstones), read whole by every worker and bridge. The ids deleted
together share a ``group`` (the deletion request's id), so lifting the suppression of one
of them lifts it for all. A hash of an id is not anonymous (an email can be guessed and
hashed), but the list never holds an id in clear: only the hashes of ids it names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from traitflow.exceptions import UnreadableRecord
from traitflow.identity.ids import stored_id, trait_id
from traitflow.ingest.messages import identify_traits, usable_id

ID_FIELDS = ("userId", "anonymousId", "previousId")
NO_JUNK: frozenset[str] = frozenset()  # a junk id ("null") suppressed is checked all the same


class UnreadableSuppression(UnreadableRecord):
    """A suppressions record that cannot be read whole (its key, if any, is suppressed)."""


def id_hash(identifier: str) -> str:
    return hashlib.sha256(b"traitflow-id\x00" + identifier.encode()).hexdigest()


def suppression_record(identifier: str, group: str, at_ms: int) -> tuple[bytes, bytes]:
    return id_hash(identifier).encode(), orjson.dumps({"group": group, "at_ms": at_ms})


def named_ids(body: dict[str, Any], identity_traits: Sequence[str] = ()) -> list[str]:
    """Every id a message names, in the form the worker stores ids (the same
    normalisation as ``traitflow.identity.ids``: ids stripped, identifying traits as
    ``email:<lowercased>``), whatever the message's type: what a deletion suppressed
    must be recognised however a later message spells it."""
    found = [stored_id(body[name]) for name in ID_FIELDS if usable_id(body.get(name), NO_JUNK)]
    if identity_traits:
        traits = identify_traits(body)
        found += [trait_id(name, str(traits[name])) for name in identity_traits
                  if usable_id(traits.get(name), NO_JUNK)]  # fmt: skip
    return found


class Suppressions:
    """The suppressed hashes this process knows, with the group of each.

    ``identity_traits`` are the identifying traits (``email``...) the worker links
    people by: a message naming a suppressed person's email is suppressed too."""

    def __init__(self, identity_traits: Sequence[str] = ()) -> None:
        self.groups: dict[str, str] = {}
        self.identity_traits = tuple(identity_traits)

    def __len__(self) -> int:
        return len(self.groups)

    def apply(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Records of the suppressions topic, in order (a tombstone lifts one)."""
        for key, value in records:
            self.apply_one(key, value)

    def apply_one(self, key: bytes | None, value: bytes | None) -> None:
        """One record. Fails closed: a keyed record whose value cannot be read still
        suppresses its key (then ``UnreadableSuppression`` says so, to be counted)."""
        if key is None:
            raise UnreadableSuppression("a suppressions record without a key names no id")
        hashed = key.decode(errors="replace")
        if value is None:
            self.groups.pop(hashed, None)
            return
        try:
            found = orjson.loads(value)
            group = found.get("group", "") if isinstance(found, dict) else None
        except orjson.JSONDecodeError:
            group = None
        if not isinstance(group, str):
            self.groups[hashed] = ""
            raise UnreadableSuppression(
                'a suppressions record whose value is not {"group": ...}: its id stays '
                "suppressed, in no group"
            )
        self.groups[hashed] = group

    def add(self, identifiers: Iterable[str], group: str) -> None:
        """Suppress at once in this process (the topic's records follow)."""
        for identifier in identifiers:
            self.groups[id_hash(identifier)] = group

    def covers(self, identifier: str) -> bool:
        return bool(self.groups) and id_hash(identifier) in self.groups

    def covers_message(self, body: dict[str, Any]) -> bool:
        """Whether any id a message names is suppressed (nothing is hashed while the
        list is empty)."""
        if not self.groups:
            return False
        return any(self.covers(i) for i in named_ids(body, self.identity_traits))

    def group_of(self, identifier: str) -> str | None:
        return self.groups.get(id_hash(identifier))

    def keys_of_group(self, group: str) -> list[str]:
        return sorted(key for key, found in self.groups.items() if found == group)
