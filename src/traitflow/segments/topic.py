"""Publishing definitions to, and reading them from, the compacted segments topic."""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition

from traitflow.broker.clients import publish, reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings
from traitflow.segments.definition import Segment
from traitflow.segments.registry import Registry


async def apply_segments(settings: Settings, segments: list[Segment]) -> None:
    records = [(s.key.encode(), orjson.dumps(s.spec)) for s in segments]
    await publish(settings, settings.topics.segments, records)


async def delete_segment(settings: Settings, key: str) -> None:
    """Publish a tombstone: compaction then forgets the definition, workers drop it."""
    await publish(settings, settings.topics.segments, [(key.encode(), None)])


async def live_segments(settings: Settings) -> Registry:
    """The definitions workers hold now: the segments topic replayed to its end."""
    registry = Registry()
    async with reader(settings, settings.topics.segments) as consumer:
        partitions = [TopicPartition(settings.topics.segments, 0)]
        await consumer.seek_to_beginning(*partitions)
        for record in await read_to_end(consumer, partitions):
            registry.apply_record(record.key, record.value)
    return registry
