"""End offsets taken from fetch responses, which every broker reports correctly.

Tansu's ListOffsets answers the last batch's base offset + 1 rather than the true end
(see DESIGN.md); a fetch response's high watermark is right on Tansu and Kafka alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def fetched_highwaters(
    bootstrap: str, start: Mapping[TopicPartition, int], timeout: float = 10.0
) -> dict[TopicPartition, int]:
    """High watermark of each partition, learnt by fetching from ``start``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, max(offset, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(consumer.highwater(tp) is not None for tp in start):
                break
            await consumer.getmany(timeout_ms=100, max_records=1)
        return {tp: max(consumer.highwater(tp) or 0, start[tp]) for tp in start}
    finally:
        await consumer.stop()


async def read_to_end(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read assigned partitions from their position until caught up with the high watermark."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = await consumer.getmany(*tps, timeout_ms=200)
        for messages in batch.values():
            records.extend(messages)
        if not batch and await _caught_up(consumer, tps):
            return records
    raise TimeoutError(f"could not read {[str(tp) for tp in tps]} to its end in {timeout}s")


async def _caught_up(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True
