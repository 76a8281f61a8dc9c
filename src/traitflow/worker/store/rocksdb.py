"""Faust's RocksDB store (URL scheme ``traitflow://``), restoring from a changelog only the
records it can write, and rebuilding a partition whose files RocksDB finds corrupt.

A partition's database that RocksDB refuses to open as corrupt is moved aside (kept, named
``<db>.corrupt-<time>``, for a post-mortem) and opened fresh: Faust then restores the
partition whole from its changelog, as for a new worker. Corruption found later, on a
read, makes the worker unready (``traitflow.worker.handler``), never silent.

Only workers write the changelog topics, always with a key. A record without one (a
hostile or mistaken producer) made Faust's recovery fail on it again and again, so the
worker never became ready. Such a record is skipped, counted and logged with its topic,
partition and offset; its offset counts as restored. What traitflow decodes from the
restored values (profiles, ids, schedule keys) is read defensively where it is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from faust.stores.rocksdb import Store as FaustRocksDBStore
from faust.types import TP, EventT

log = logging.getLogger(__name__)


def writable(event: EventT[Any]) -> bool:
    message = event.message
    return isinstance(message.key, bytes) and isinstance(message.value, bytes | None)


def is_storage_fault(exc: BaseException) -> bool:
    """RocksDB's own errors (rocksdict raises them as plain exceptions): corrupt files,
    failed reads. Not the input's fault, and not one a retry fixes."""
    text = str(exc)
    return text.startswith(("Corruption:", "IO error:")) or "Corruption: " in text


class Store(FaustRocksDBStore):
    skipped = 0  # changelog records skipped by this process, every table together
    rebuilt: list[str] = []  # partitions' databases found corrupt at open and rebuilt

    def _open_for_partition(self, partition: int) -> Any:
        try:
            return super()._open_for_partition(partition)
        except Exception as exc:
            if not is_storage_fault(exc):
                raise
            path = self.partition_path(partition)
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.rename(aside)
            log.critical("RocksDB cannot open %s (%s): moved to %s; the partition is "
                         "rebuilt from its changelog", path.name, exc, aside.name)  # fmt: skip
            Store.rebuilt.append(f"{path.name}: {str(exc)[:200]}")
            return super()._open_for_partition(partition)

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT[Any]],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        events = list(batch)
        readable = [event for event in events if writable(event)]
        if len(readable) == len(events):
            super().apply_changelog_batch(readable, to_key, to_value)
            return
        newest: dict[TP, int] = {}
        for event in events:
            message = event.message
            newest[message.tp] = max(message.offset, newest.get(message.tp, -1))
            if not writable(event):
                Store.skipped += 1
                log.error("skipped a changelog record without a key: %s/%d/%d",
                          message.topic, message.partition, message.offset)  # fmt: skip
        super().apply_changelog_batch(readable, to_key, to_value)
        for tp, offset in newest.items():
            if offset > (self.persisted_offset(tp) or -1):
                self.set_persisted_offset(tp, offset)
