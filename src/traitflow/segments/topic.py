"""Publishing definitions to, and reading them from, the compacted segments topic."""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition

from traitflow.broker.clients import publish, reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings
from traitflow.exceptions import InvalidDefinition
from traitflow.segments.conditions import Dep
from traitflow.segments.definition import Definition, Segment
from traitflow.segments.registry import Registry


async def apply_definitions(settings: Settings, definitions: list[Definition]) -> None:
    """Check the definitions against what is live, then publish them."""
    registry = await live_registry(settings)
    with registry.batch():
        for definition in definitions:
            registry.put(definition)
    _refuse_dangling(registry, definitions)
    records = [(d.record_key.encode(), orjson.dumps(d.spec)) for d in definitions]
    await publish(settings, settings.topics.segments, records)


async def delete_segment(settings: Settings, key: str) -> None:
    """Publish a tombstone: compaction then forgets the definition, workers drop it."""
    await publish(settings, settings.topics.segments, [(key.encode(), None)])


async def live_registry(settings: Settings) -> Registry:
    """The definitions workers hold now: the segments topic replayed to its end."""
    registry = Registry()
    async with reader(settings, settings.topics.segments) as consumer:
        partitions = [TopicPartition(settings.topics.segments, 0)]
        await consumer.seek_to_beginning(*partitions)
        records = await read_to_end(consumer, partitions)
    with registry.batch():
        registry.apply_records((r.key, r.value, r.offset) for r in records)
    return registry


def _refuse_dangling(registry: Registry, definitions: list[Definition]) -> None:
    """A reference to a segment or computed trait that does not exist is a typo."""
    for definition in definitions:
        if not isinstance(definition, Segment):
            continue
        for kind, name in sorted(definition.condition.deps()):
            if _missing(registry, (kind, name)):
                raise InvalidDefinition(
                    f"segment {definition.key!r} refers to unknown {kind} {name!r}: "
                    "apply it first (or in the same file)"
                )


def _missing(registry: Registry, dep: Dep) -> bool:
    kind, name = dep
    if kind == "segment":
        return name not in registry.segments
    return kind == "computed" and name not in registry.computed
