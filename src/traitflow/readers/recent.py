"""The latest records of a topic (the admin API's recent dead letters and membership
events), read from a little before each partition's end."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from traitflow.broker.clients import reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings


async def recent_records(
    settings: Settings, topic: str, limit: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """The ``limit`` latest records of ``topic`` over its partitions, newest first.

    Each partition is read from ``limit`` records before the end the broker reports; a
    broker that reports an end too early (some answer the last batch's first offset) only
    makes the read longer, never shorter."""
    async with reader(settings, topic) as consumer:
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        await consumer.seek_to_end(*partitions)
        ends = {tp: await consumer.position(tp) for tp in partitions}
        starts = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(starts[tp], ends[tp] - limit))
        records = await read_to_end(consumer, partitions)
    records.sort(key=lambda record: (record.timestamp, record.partition, record.offset))
    return records[::-1][:limit]
