"""Who is in a segment now, read from the profiles' changelog one partition at a time.

Only the latest record per person is kept, and of it only the membership asked for, so
memory grows with the members of one partition, not with the profiles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from traitflow.broker.clients import reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import PROFILES_TABLE, Settings


def changelog_topic(settings: Settings) -> str:
    """The profiles table's changelog: compacted, partitioned like the events topic."""
    return f"{settings.app_id}-{PROFILES_TABLE}-changelog"


@dataclass(frozen=True, slots=True)
class PartitionMembers:
    partition: int
    profiles: int
    members: list[str]


async def members_by_partition(settings: Settings, segment: str) -> AsyncIterator[PartitionMembers]:
    """Each changelog partition's current members of ``segment``, sorted by person."""
    topic = changelog_topic(settings)
    async with reader(settings, topic) as consumer:
        for tp in sorted(consumer.assignment(), key=lambda tp: tp.partition):
            yield await _partition_members(consumer, tp, segment)


async def _partition_members(
    consumer: AIOKafkaConsumer, tp: TopicPartition, segment: str
) -> PartitionMembers:
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    latest: dict[bytes, bool] = {}
    for record in await read_to_end(consumer, [tp], timeout=300):
        if record.key is None:
            continue
        latest[record.key] = record.value is not None and _is_member(record.value, segment)
    members = sorted(key.decode(errors="replace") for key, member in latest.items() if member)
    return PartitionMembers(tp.partition, len(latest), members)


def _is_member(raw: bytes, segment: str) -> bool:
    """Whether a stored profile says so; a value that is no profile is no member."""
    try:
        memberships = orjson.loads(raw).get("memberships", {})
        membership = memberships.get(segment) if isinstance(memberships, dict) else None
        return isinstance(membership, dict) and membership.get("member") is True
    except (orjson.JSONDecodeError, AttributeError):
        return False
