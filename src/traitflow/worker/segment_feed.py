"""Keeps a worker's registry in step with the compacted segments topic, without restarts.

A plain consumer with no group: every worker must see every definition, and reading the
one partition from the beginning rebuilds the registry after any restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from traitflow.broker.offsets import read_to_end
from traitflow.segments import Registry

log = logging.getLogger(__name__)


class SegmentFeed:
    def __init__(self, connection: dict[str, Any], topic: str, registry: Registry) -> None:
        self.connection = connection
        self.partition = TopicPartition(topic, 0)
        self.registry = registry
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Load every definition, set ``ready``, then follow new records until cancelled."""
        consumer = AIOKafkaConsumer(**self.connection, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([self.partition])
            await consumer.seek_to_beginning(self.partition)
            self._apply(await read_to_end(consumer, [self.partition]))
            log.info("segments loaded: %d live", len(self.registry))
            self.ready.set()
            while True:
                batch = await consumer.getmany(self.partition, timeout_ms=1000)
                self._apply(batch.get(self.partition, []))
        finally:
            await consumer.stop()

    async def loaded(self, version: int, timeout: float = 60.0) -> None:
        """Wait until definitions up to ``version`` (a segments-topic offset) are applied."""
        deadline = time.monotonic() + timeout
        while self.registry.version < version:
            if time.monotonic() > deadline:
                log.warning("definitions v%d not seen after %.0fs; going on", version, timeout)
                return
            await asyncio.sleep(0.05)

    def _apply(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        with self.registry.batch():
            self.registry.apply_records((r.key, r.value, r.offset) for r in records)
        for record in records:
            log.info(
                "definition %s %s", record.key, "deleted" if record.value is None else "applied"
            )
