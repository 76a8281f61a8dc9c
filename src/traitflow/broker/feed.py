"""Following a one-partition compacted topic that every process must see whole.

A plain consumer with no group: every worker (and bridge) needs every record, and reading
the partition from the beginning rebuilds the state after any restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from traitflow.broker.offsets import read_to_end

log = logging.getLogger(__name__)
Records = list[ConsumerRecord[bytes, bytes]]


class CompactedFeed:
    def __init__(
        self, connection: dict[str, Any], topic: str, apply: Callable[[Records], None]
    ) -> None:
        self.connection = connection
        self.partition = TopicPartition(topic, 0)
        self.apply = apply
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Apply every record, set ``ready``, then follow new records until cancelled."""
        consumer = AIOKafkaConsumer(**self.connection, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([self.partition])
            await consumer.seek_to_beginning(self.partition)
            self.apply(await read_to_end(consumer, [self.partition]))
            self.ready.set()
            while True:
                batch = await consumer.getmany(self.partition, timeout_ms=1000)
                self.apply(batch.get(self.partition, []))
        finally:
            await consumer.stop()
