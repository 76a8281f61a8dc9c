"""The worker's tables: profiles, and the schedule of their next due instants.

Writes go through ``WriteBehind`` (``traitflow.worker.store.held``): they reach the Faust
tables when the worker's batch closes, after Kafka acknowledged the batch's sends.

The schedule holds one key per person, ``<instant><person>``, the instant in epoch
milliseconds as 8 bytes big-endian (as Kafka Streams stores window starts), in the same
partition as the profile: RocksDB keeps keys sorted, so what is due is a prefix scan, every
instant from 1970 to 9999 sorts in time order, and an idle profile costs nothing per tick.
Both tables are changelogged, so due instants survive restarts and move with their
partition on a rebalance.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from traitflow.identity.ids import Identifier, Pointer
from traitflow.profiles import Profile
from traitflow.timeutil import EARLIEST_MS, LATEST_MS
from traitflow.worker.store.held import WriteBehind, flush_held
from traitflow.worker.store.partitions import Table

log = logging.getLogger(__name__)
INSTANT = struct.Struct(">Q")


def schedule_key(instant_ms: int, person: bytes) -> bytes:
    """Instants outside 1970-9999 are held at the nearest end (due now, or never)."""
    return INSTANT.pack(min(max(instant_ms, EARLIEST_MS), LATEST_MS)) + person


def person_of(key: bytes) -> tuple[int, bytes]:
    return INSTANT.unpack_from(key)[0], key[INSTANT.size :]


class ProfileStore:
    def __init__(
        self,
        profiles: Table,
        schedule: Table,
        identities: Table | None = None,
        replays: Table | None = None,
    ) -> None:
        self.profiles = profiles  # the Faust tables, for scans and routing
        self.schedule = schedule
        self.identities: Table = identities if identities is not None else {}
        self.replays: Table = replays if replays is not None else {}
        self._profiles = WriteBehind(self.profiles)
        self._schedule = WriteBehind(self.schedule)
        self._identities = WriteBehind(self.identities)
        self._replays = WriteBehind(self.replays)
        self.held = (self._profiles, self._schedule, self._identities, self._replays)
        # The open batch's saved profiles, decoded, with the bytes they were saved as: a
        # person's next message in the batch takes it instead of decoding those bytes.
        self._decoded: dict[bytes, tuple[bytes, Profile]] = {}

    def writing_for(self, partition: int) -> None:
        """The events partition whose record is being processed: where writes belong."""
        for table in self.held:
            table.partition = partition

    def seal(self) -> None:
        """The batch closed: its writes wait in a layer of their own (see ``Batcher``)."""
        for table in self.held:
            table.seal()
        self._decoded.clear()

    async def flush(self, last_records: Mapping[int, Any]) -> int:
        """Write the oldest sealed batch's held writes to the tables (see ``Batcher``)."""
        return await flush_held(self.held, last_records)

    def abandon(self) -> None:
        """Forget the open batch's writes: its records will be processed again."""
        for table in self.held:
            table.abandon()

    def discard(self, partition: int, keep_flushing: bool = False) -> None:
        """Forget a revoked partition's held writes: its records will be processed again
        (those of a batch being written, with ``keep_flushing``, are written whole)."""
        for table in self.held:
            table.discard(partition, keep_flushing)

    def canonical_of(self, identifier: str) -> Pointer | None:
        """The ``identities`` entry of an id: where its person's profile lives now."""
        stored = self._identities.get(identifier.encode())
        if stored is None:
            return None  # most ids: their own person
        entry = _identity_entry(stored)
        if "to" not in entry:
            return None  # only the mark of a deletion, or an entry that cannot be read
        try:
            to = Identifier(str(entry["to"]), str(entry["to_kind"]))
            return Pointer(to, str(entry["kind"]), int(entry.get("since", -1)))
        except (KeyError, TypeError, ValueError):
            log.error("an identities entry cannot be read (%d-byte key): ignored", len(identifier))
            return None

    def point(self, identifier: str, pointer: Pointer) -> None:
        entry = {"to": pointer.to.value, "to_kind": pointer.to.kind, "kind": pointer.kind,
                 "since": pointer.since}  # fmt: skip
        erased = self.erased_before(identifier)
        if erased >= 0:
            entry["erased_before"] = erased
        self._identities[identifier.encode()] = orjson.dumps(entry)

    def unpoint(self, identifier: str) -> None:
        erased = self.erased_before(identifier)
        if erased >= 0:
            self._identities[identifier.encode()] = orjson.dumps({"erased_before": erased})
        else:
            self._identities.pop(identifier.encode())

    def erase_history(self, identifier: str, position: int) -> None:
        """``identifier`` belonged to a person deleted at ``position`` of this partition:
        what the log holds for it before then is never read back into a profile."""
        entry = _identity_entry(self._identities.get(identifier.encode()))
        entry["erased_before"] = max(position, _erased_before(entry))
        self._identities[identifier.encode()] = orjson.dumps(entry)

    def erased_before(self, identifier: str) -> int:
        """The position before which this partition's history of ``identifier`` belongs to a
        deleted person; -1 if none does."""
        return _erased_before(_identity_entry(self._identities.get(identifier.encode())))

    def replay_state(self, partition: int, replay: str) -> dict[str, Any] | None:
        """A partition's progress in a replay of history (``traitflow.worker.replay``)."""
        stored = self._replays.get(f"{partition}/{replay}".encode())
        try:
            found = orjson.loads(stored) if stored is not None else None
        except orjson.JSONDecodeError:
            found = None
        return found if isinstance(found, dict) else None

    def set_replay_state(self, partition: int, replay: str, state: dict[str, Any]) -> None:
        self._replays[f"{partition}/{replay}".encode()] = orjson.dumps(state)

    def remove(self, profile: Profile, previous_due: int | None) -> None:
        """Drop a profile merged into another person, with its schedule entry."""
        person = profile.person.encode()
        self._profiles.pop(person)
        if previous_due is not None:
            self._schedule.pop(schedule_key(previous_due, person))

    def profile_keys(self, partition: int, after: bytes | None, limit: int) -> list[bytes]:
        """Up to ``limit`` stored profiles' keys of one partition, in key order, after
        ``after`` (a backfill's or a retention sweep's next chunk), the held writes of
        batches not yet written included."""
        return self._profiles.keys(partition, after, limit)

    def load(self, person: bytes) -> Profile | None:
        """The stored profile, the caller's to change: saving it keeps the change, not
        saving it (a refused message) leaves the stored one as it was."""
        stored = self._profiles.get(person)
        if stored is None:
            return None
        saved = self._decoded.pop(person, None)  # taken: changed only by this caller
        if saved is not None and saved[0] is stored:  # what was saved is still what's stored
            return saved[1]
        return Profile.from_bytes(stored)

    def read(self, person: bytes) -> Profile | None:
        """The stored profile for reading only (the admin API): decoded afresh, never the
        object a batch is changing."""
        stored = self._profiles.get(person)
        return None if stored is None else Profile.from_bytes(stored)

    def save(
        self, person: bytes, profile: Profile, previous_due: int | None, encoded: bytes = b""
    ) -> None:
        """Write the profile (``encoded`` already, if given) and move its schedule entry if
        its next due instant changed."""
        encoded = encoded or profile.to_bytes()
        self._profiles[person] = encoded
        self._decoded[person] = (encoded, profile)
        due = profile.next_due_ms()
        if due == previous_due:
            return
        if previous_due is not None:
            self._schedule.pop(schedule_key(previous_due, person))
        if due is not None:
            self._schedule[schedule_key(due, person)] = b""

    def due(self, partition: int, until_ms: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` (instant, person) due by ``until_ms`` in one partition, oldest first."""
        found = []
        for key in self._schedule.partitions.keys(partition, None, limit):
            if len(key) <= INSTANT.size:  # no person: only a hostile changelog write
                log.error("dropped a schedule entry naming no person (%d bytes)", len(key))
                self._schedule.pop(key)
                continue
            instant, person = person_of(key)
            if instant > until_ms:
                break
            found.append((instant, person))
        return found

    def drop_due(self, instant: int, person: bytes) -> None:
        """Forget a schedule entry whose profile is gone or cannot be read."""
        self._schedule.pop(schedule_key(instant, person))

    def first_due(self, partition: int) -> int | None:
        """The first due instant (0 for an entry that cannot be read: ``due`` drops it)."""
        keys = self._schedule.partitions.keys(partition, None, 1)
        if not keys:
            return None
        return person_of(keys[0])[0] if len(keys[0]) > INSTANT.size else 0

    def memberships_in(self, partition: int) -> Iterator[dict[str, Any]]:
        """The ``memberships`` map of every stored profile of one partition."""
        for value in self._profiles.partitions.values(partition):
            try:
                found = orjson.loads(value)
            except orjson.JSONDecodeError:
                found = None
            memberships = found.get("memberships") if isinstance(found, dict) else None
            if isinstance(memberships, dict):
                yield memberships

    def profile_count(self, partition: int) -> int:
        """How many profiles one partition stores (RocksDB's estimate: cheap to read)."""
        return self._profiles.partitions.count(partition)


def _identity_entry(stored: bytes | None) -> dict[str, Any]:
    """A stored ``identities`` entry as a dict; one that cannot be read (only a hostile
    write to the changelog makes one) counts as none, logged without the id."""
    if stored is None:
        return {}
    try:
        entry = orjson.loads(stored)
    except orjson.JSONDecodeError:
        entry = None
    if not isinstance(entry, dict):
        log.error("an identities entry cannot be read (%d bytes): ignored", len(stored))
        return {}
    return entry


def _erased_before(entry: dict[str, Any]) -> int:
    erased = entry.get("erased_before", -1)
    return erased if type(erased) is int else -1


class IdentityTables:
    """The store as the identity resolver reads it (ids as text)."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store

    def canonical_of(self, identifier: str) -> Pointer | None:
        return self.store.canonical_of(identifier)

    def load(self, person: str) -> Profile | None:
        return self.store.load(person.encode())
