"""Every use of Faust's and aiokafka's private API by the worker, in one place, each with
why: upgrading faust-streaming means reading this file against its new sources.

(The transports in ``traitflow.broker`` override Faust methods by name; they say so there.)
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP


def partition_database(store: Any, partition: int) -> Any:
    """The RocksDB database (a ``rocksdict.Rdict``) Faust's RocksDB store keeps for one
    partition of a table. Read and written directly: the table layer checks membership
    first and reads twice, and buffers changelog records a busy stream outruns."""
    return store._db_for_partition(partition)


def is_rocksdb(store: Any) -> bool:
    """Whether ``store`` (a table's ``data``) keeps one RocksDB database per partition,
    rather than the single dict of the memory store."""
    return hasattr(store, "_db_for_partition")


def committed_offset(app: faust.App, tp: TP) -> int | None:
    """The last offset Faust committed for ``tp`` (none before its first commit)."""
    committed: int | None = app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
    return committed


def standby_applied(app: faust.App) -> dict[TP, int | None]:
    """Per standby changelog partition, the last offset Faust's recovery applied to the
    standby copy (-1 before any): Faust keeps it, but not as public API."""
    recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
    return {tp: recovery.standby_offsets.get(tp) for tp in list(recovery.standby_tps)}


async def request_rejoin(app: faust.App) -> None:
    """Ask aiokafka's group coordinator, in Faust's consumer thread, to rejoin the group:
    what a stalled partition needs (Faust has no public call for it)."""
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]

    async def request() -> None:
        thread._ensure_consumer()._coordinator.request_rejoin()

    await thread.call_thread(request)


class _Current:
    """What Faust's current event offers its tables: the record being processed."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Any) -> None:
        self.message = message


@contextlib.contextmanager
def as_current(record: Any) -> Iterator[None]:
    """Make ``record`` (a Faust ``Message``) the current event's, as a Faust table
    expects while it is written outside an agent's stream (batch delivery)."""
    current = _Current(record)  # held here: the context keeps only a weak reference
    token = _current_event.set(weakref.ref(current))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)
