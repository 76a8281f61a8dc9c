"""Suppression: ids whose later messages are dropped, kept as hashes, never as ids.

The list lives on a compacted topic (one record per suppressed id, keyed by its hash; an
``unsuppress`` writes tombstones), read whole by every worker and bridge. The ids deleted
together share a ``group`` (the deletion request's id), so lifting the suppression of one
of them lifts it for all. A hash of an id is not anonymous (an email can be guessed and
hashed), but the list never holds an id in clear: only the hashes of ids it names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

ID_FIELDS = ("userId", "anonymousId", "previousId")


def id_hash(identifier: str) -> str:
    return hashlib.sha256(b"traitflow-id\x00" + identifier.encode()).hexdigest()


def suppression_record(identifier: str, group: str, at_ms: int) -> tuple[bytes, bytes]:
    return id_hash(identifier).encode(), orjson.dumps({"group": group, "at_ms": at_ms})


class Suppressions:
    """The suppressed hashes this process knows, with the group of each."""

    def __init__(self) -> None:
        self.groups: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.groups)

    def apply(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Records of the suppressions topic, in order (a tombstone lifts one)."""
        for key, value in records:
            if key is None:
                continue
            if value is None:
                self.groups.pop(key.decode(), None)
            else:
                self.groups[key.decode()] = str(orjson.loads(value).get("group", ""))

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
        return any(self.covers(str(body[name])) for name in ID_FIELDS if body.get(name) is not None)

    def group_of(self, identifier: str) -> str | None:
        return self.groups.get(id_hash(identifier))

    def keys_of_group(self, group: str) -> list[str]:
        return sorted(key for key, found in self.groups.items() if found == group)
