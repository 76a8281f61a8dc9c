"""Publishing definitions to, and reading them from, the compacted segments topic."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import TopicPartition

from traitflow.broker.clients import Record, producer, reader
from traitflow.broker.offsets import read_to_end
from traitflow.catalog.history import record_applied, record_deleted
from traitflow.commands import COMMAND_KEY, BackfillCommand, command_headers
from traitflow.config import Settings
from traitflow.exceptions import InvalidDefinition
from traitflow.segments.conditions import Dep
from traitflow.segments.definition import COMPUTED_PREFIX, Definition, Segment
from traitflow.segments.registry import Registry


async def apply_definitions(settings: Settings, definitions: list[Definition]) -> int:
    """Check definitions against what is live, publish them, and request a backfill.

    Returns the definitions version (segments-topic offset) the backfill brings profiles to.
    """
    registry = await live_registry(settings)
    with registry.batch():
        for definition in definitions:
            registry.put(definition)
    _refuse_dangling(registry, definitions)
    records = [(d.record_key.encode(), orjson.dumps(d.spec)) for d in definitions]
    version = await publish_with_backfill(settings, records)
    await record_applied(settings, definitions, version)
    return version


async def publish_with_backfill(settings: Settings, records: Sequence[Record]) -> int:
    """Publish segments-topic records, then ask every events partition's worker to
    re-decide its stored profiles up to them; return that definitions version."""
    async with producer(settings) as client:
        pending = [await client.send(settings.topics.segments, v, key=k) for k, v in records]
        version: int = max([(await ack).offset for ack in pending])
        partitions = await client.partitions_for(settings.topics.events)
        for partition in sorted(partitions):
            command = BackfillCommand(version, partition)
            await client.send_and_wait(
                settings.topics.events,
                command.to_bytes(),
                key=COMMAND_KEY,
                partition=partition,
                headers=command_headers(),
            )
    return version


async def backfill_status(settings: Settings) -> list[dict[str, Any]]:
    """The latest progress record of each partition, from the compacted status topic."""
    async with reader(settings, settings.topics.status) as consumer:
        partitions = [TopicPartition(settings.topics.status, 0)]
        await consumer.seek_to_beginning(*partitions)
        records = await read_to_end(consumer, partitions)
    latest = {r.key: orjson.loads(r.value) for r in records if r.key and r.value}
    return sorted(latest.values(), key=lambda status: int(status["partition"]))


async def delete_segment(settings: Settings, key: str) -> int:
    """Publish a tombstone (compaction then forgets the definition) and request a backfill,
    which drops the segment's memberships from stored profiles. An unknown key is refused
    (a typo would otherwise say "deleted" and change nothing)."""
    live = await live_registry(settings)
    if key not in live.segments and key.removeprefix(COMPUTED_PREFIX) not in live.computed:
        known = sorted(live.segments) + [COMPUTED_PREFIX + name for name in live.computed]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidDefinition(
            f"no live definition {key!r}{hint}: nothing deleted; see `traitflow segments list`"
        )
    version = await publish_with_backfill(settings, [(key.encode(), None)])
    await record_deleted(settings, key, version)
    return version


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
