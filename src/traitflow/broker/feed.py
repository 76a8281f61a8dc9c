"""Following a one-partition compacted topic that every process must see whole.

A plain consumer with no group: every worker (and bridge) needs every record, and reading
the partition from the beginning rebuilds the state after any restart.

Every record goes through ``apply_one`` inside one guard: a record that cannot be read is
skipped, counted and logged with its topic, partition and offset, and the state built
from the others is kept (a compacted topic keeps a bad record for good: raising would
stop the feed at every start). When the consumer itself fails, the feed says so
(``failure``, for readiness) and follows again from the beginning after a pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from traitflow.broker.offsets import read_to_end
from traitflow.exceptions import UnreadableRecord

log = logging.getLogger(__name__)
Record: TypeAlias = ConsumerRecord[bytes, bytes]
Records: TypeAlias = list[Record]
RETRY_S = (1.0, 2.0, 5.0, 10.0)  # pauses before following again after a failure


class CompactedFeed:
    def __init__(
        self,
        connection: dict[str, Any],
        topic: str,
        apply_one: Callable[[Record], None],
        batch: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        self.connection = connection
        self.partition = TopicPartition(topic, 0)
        self.apply_one = apply_one
        self.batch = batch
        self.ready = asyncio.Event()  # the topic was read to its end once
        self.settled = asyncio.Event()  # ready, or failed at least once
        self.failure: str | None = None  # why the feed does not follow now, if it does not
        self.skipped = 0  # records that could not be read
        self.last_skipped: str | None = None  # where, and why

    @property
    def following(self) -> bool:
        return self.ready.is_set() and self.failure is None

    async def run(self) -> None:
        """Apply every record, set ``ready``, then follow new records until cancelled;
        after a failure, start over from the beginning (records apply idempotently)."""
        failures = 0
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                pause = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                self.failure = f"{exc!r}"[:300]
                self.settled.set()
                log.error("the %s feed failed: %s; following again in %gs",
                          self.partition.topic, self.failure, pause)  # fmt: skip
                await asyncio.sleep(pause)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(**self.connection, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([self.partition])
            await consumer.seek_to_beginning(self.partition)
            self.apply(await read_to_end(consumer, [self.partition]))
            self.failure = None
            self.ready.set()
            self.settled.set()
            while True:
                batch = await consumer.getmany(self.partition, timeout_ms=1000)
                self.apply(batch.get(self.partition, []))
        finally:
            await consumer.stop()

    def apply(self, records: Records) -> None:
        """Each record through ``apply_one``; one that fails is skipped and counted."""
        if not records:
            return
        with self.batch():
            for record in records:
                try:
                    self.apply_one(record)
                except Exception as exc:
                    self._skip(record, exc)

    def _skip(self, record: Record, exc: Exception) -> None:
        self.skipped += 1
        where = f"{record.topic}/{record.partition}/{record.offset}"
        self.last_skipped = f"{where}: {exc}"[:500]
        if isinstance(exc, UnreadableRecord):
            log.error("skipped an unreadable record %s: %s", where, exc)
        else:
            log.error("skipped a record %s that failed to apply", where, exc_info=exc)
