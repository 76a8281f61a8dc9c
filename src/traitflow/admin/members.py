"""Pages of a segment's members, read from the stored profiles partition by partition.

A page's cursor says where the next one starts: a partition and the last key read in it.
Each worker reads its own partitions and hands a cursor that points into another
worker's partition to that worker (``traitflow.admin.segment_views``), so paging over
the cursor visits every partition once, whichever worker is asked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from typing_extensions import TypedDict

from traitflow.exceptions import TraitflowError
from traitflow.profiles import Profile
from traitflow.worker.store.profiles import ProfileStore

SCAN_CHUNK = 500


class MembersPage(TypedDict):
    """Members in key order; ``next`` is null after the last partition."""

    segment: str
    members: list[str]
    next: str | None


class BadCursor(TraitflowError):
    """A cursor this API did not hand out."""


@dataclass(frozen=True, slots=True)
class Cursor:
    partition: int = 0
    after: bytes | None = None

    def encode(self) -> str:
        after = None if self.after is None else self.after.hex()
        return base64.urlsafe_b64encode(orjson.dumps([self.partition, after])).decode()

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            partition, after = orjson.loads(base64.urlsafe_b64decode(text.encode()))
            if type(partition) is not int or partition < 0:  # not a bool, a float or -1
                raise ValueError(partition)
            return cls(partition, None if after is None else bytes.fromhex(after))
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise BadCursor(f"cursor {text[:40]!r} is not one this API handed out") from None


def local_page(
    store: ProfileStore, segment: str, cursor: Cursor, limit: int, scan: int
) -> tuple[list[str], Cursor, int]:
    """Up to ``limit`` members from ``cursor`` on, within the cursor's partition, reading at
    most ``scan`` profiles; the cursor to go on from (the next partition's start when this
    one is done) and how many profiles were read."""
    found: list[str] = []
    after, read = cursor.after, 0
    while len(found) < limit and read < scan:
        keys = store.profile_keys(cursor.partition, after, min(SCAN_CHUNK, scan - read))
        if not keys:
            return found, Cursor(cursor.partition + 1), read
        for key, profile in _profiles(store, keys):
            after, read = key, read + 1
            if profile is not None and profile.is_member(segment):
                found.append(profile.person)
                if len(found) == limit:
                    break
    return found, Cursor(cursor.partition, after), read


def _profiles(store: ProfileStore, keys: list[bytes]) -> Iterator[tuple[bytes, Profile | None]]:
    for key in keys:
        yield key, store.read(key)
