"""Dead letters that name a deleted person, removed from the dead-letter topic itself.

Kafka deletes records only from the start of a partition (DeleteRecords). So a purge
re-appends every other record that precedes the last one to forget, as it was (key, value,
headers, timestamp) with a header naming where it came from, and then deletes the
partition up to and including that last one. A purge cut short re-appends some records
twice (the header tells them apart) and forgets nothing yet: running it again finishes it.
The embedded broker has no DeleteRecords: there the admin API keeps hiding such records
until retention deletes them (docs/privacy.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from traitflow.broker.clients import producer, reader
from traitflow.broker.connection import kafka_options, start_client
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings
from traitflow.exceptions import BrokerError
from traitflow.privacy.forgotten import names_forgotten
from traitflow.privacy.requests import deleted_ids

REQUEUED_HEADER = "traitflow-requeued-from"  # partition/offset the record was copied from


@dataclass(frozen=True)
class Purged:
    forgotten: int  # dead letters removed
    kept: int  # others re-appended to let them go


async def purge_dead_letters(settings: Settings) -> Purged:
    """Remove every dead letter that names a person deleted since it came."""
    if settings.embedded:
        raise BrokerError(
            "the embedded broker cannot delete records (no DeleteRecords): dead letters "
            "naming deleted people stay hidden by the admin API until retention removes them"
        )
    deleted = await deleted_ids(settings)
    if not deleted:
        return Purged(0, 0)
    topic = settings.topics.deadletter
    async with reader(settings, topic) as consumer:
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        await consumer.seek_to_beginning(*partitions)
        records = await read_to_end(consumer, partitions)
    by_partition = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(record)
    cuts: dict[TopicPartition, RecordsToDelete] = {}
    forgotten = kept = 0
    async with producer(settings) as client:
        for partition, found in sorted(by_partition.items()):
            named = {record.offset for record in found if names_forgotten(record, None, deleted)}
            if not named:
                continue
            last = max(named)
            pending = []
            for record in found:
                if record.offset >= last or record.offset in named:
                    continue
                headers = [*(record.headers or ()),
                           (REQUEUED_HEADER, f"{partition}/{record.offset}".encode())]  # fmt: skip
                pending.append(await client.send(topic, record.value, key=record.key,
                                                 partition=partition, headers=headers,
                                                 timestamp_ms=record.timestamp))  # fmt: skip
            for acknowledgement in pending:
                await acknowledgement
            forgotten, kept = forgotten + len(named), kept + len(pending)
            cuts[TopicPartition(topic, partition)] = RecordsToDelete(before_offset=last + 1)
    if cuts:
        admin = AIOKafkaAdminClient(**kafka_options(settings))
        await start_client(admin, settings)
        try:
            await admin.delete_records(cuts, timeout_ms=30_000)
        finally:
            await admin.close()
    return Purged(forgotten, kept)
