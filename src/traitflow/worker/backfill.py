"""Backfill: re-deciding every stored profile after definitions change, inside the stream.

``segments apply`` appends a command to each events partition. The worker owning that
partition re-evaluates ``CHUNK`` profiles of it, then appends a continuation command, so
live messages already queued are processed between chunks and never starve. Table writes
happen while handling a record of that very partition, so they reach the right changelog
partition. Progress goes to the compacted status topic for ``segments status``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

from traitflow.membership import Cause, membership_event
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.backfill import (
    COMMAND_KEY,
    BackfillCommand,
    command_headers,
    status_record,
)
from traitflow.segments.engine import decide
from traitflow.worker.sinks import Sinks, deliver

log = logging.getLogger(__name__)

CHUNK = 200


def partition_keys(store: Any, partition: int, after: str | None, limit: int) -> list[bytes]:
    """Up to ``limit`` profile keys of one partition, in key order, after ``after``.

    The RocksDB store keeps one database per partition (Faust internals, hence this one
    adapter); the memory store of agent tests keeps a single dict.
    """
    start = after.encode() if after is not None else b""
    bookkeeping = getattr(store, "offset_key", None)  # Faust keeps its offset in each DB
    if hasattr(store, "_db_for_partition"):
        keys: Iterable[bytes] = store._db_for_partition(partition).keys(from_key=start)
    else:
        keys = sorted(store.data)
    found: list[bytes] = []
    for key in keys:
        if (after is not None and key <= start) or key == bookkeeping:
            continue
        found.append(key)
        if len(found) == limit:
            break
    return found


class Backfiller:
    """Runs one chunk of a backfill command on the partition it arrived on."""

    def __init__(
        self,
        registry: Registry,
        profiles: MutableMapping[bytes, bytes],
        sinks: Sinks,
        definitions_loaded: Callable[[int], Awaitable[None]],
    ) -> None:
        self.registry = registry
        self.profiles = profiles
        self.sinks = sinks
        self.definitions_loaded = definitions_loaded

    async def run_chunk(self, command: BackfillCommand, partition: int) -> None:
        await self.definitions_loaded(command.version)
        store = getattr(self.profiles, "data", self.profiles)
        keys = partition_keys(store, partition, command.after, CHUNK)
        cause = Cause(f"backfill-{command.version}", "backfill", kind="backfill")
        for key in keys:
            await self._refresh(key, cause)
        finished = len(keys) < CHUNK
        await deliver(self.sinks.status, [(*status_record(command, len(keys), finished), None)])
        if not finished:
            follow = command.next(keys[-1], len(keys))
            record = (COMMAND_KEY, follow.to_bytes(), command_headers())
            await deliver(self.sinks.events, [record], partition=partition)
        log.info(
            "backfill v%d partition %d: %d profiles",
            command.version,
            partition,
            command.done + len(keys),
        )

    async def _refresh(self, key: bytes, cause: Cause) -> None:
        stored = self.profiles.get(key)
        if stored is None:
            return
        try:
            profile = Profile.from_bytes(stored)
            transitions = decide(profile, self.registry, set(), profile.now_ms)
        except Exception:
            log.exception("backfill skipped unreadable profile %r", key)
            return
        events = [
            (key, orjson.dumps(membership_event(profile, t, cause)), None) for t in transitions
        ]
        await deliver(self.sinks.membership, events)
        self.profiles[key] = profile.to_bytes()
