"""Reading one person's profile from the table's changelog topic, to see what a worker
stored without asking the worker.

The changelog is compacted and partitioned like the events topic, so the person's key
hashes to one partition; its last record there is the profile.
"""

from __future__ import annotations

from aiokafka import TopicPartition

from traitflow.broker.clients import reader
from traitflow.broker.offsets import read_to_end
from traitflow.broker.partitioner import partition_of
from traitflow.config import Settings
from traitflow.profiles.profile import Profile
from traitflow.readers.members import changelog_topic


async def read_profile(settings: Settings, person: str) -> Profile | None:
    key = person.encode()
    topic = changelog_topic(settings)
    async with reader(settings, topic) as consumer:
        tp = TopicPartition(topic, partition_of(key, len(consumer.assignment())))
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        latest: bytes | None = None
        for record in await read_to_end(consumer, [tp], timeout=120):
            if record.key == key:
                latest = record.value
    return Profile.from_bytes(latest) if latest is not None else None
