"""Short-lived aiokafka clients for the CLI tools, configured from ``Settings``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from traitflow.broker.connection import kafka_options, start_client
from traitflow.config import Settings
from traitflow.exceptions import BrokerError
from traitflow.ingest.bundles import bundle

Record = tuple[bytes | None, bytes | None]


def producer_options(settings: Settings) -> dict[str, Any]:
    """acks=all: a record counts as sent only once every in-sync replica has it."""
    return {
        **kafka_options(settings),
        "acks": "all",
        "linger_ms": 5,
        "max_request_size": max(1024 * 1024, settings.max_message_bytes * 2),
    }


@asynccontextmanager
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(**producer_options(settings))
    await start_client(client, settings)
    try:
        yield client
    finally:
        await client.stop()


@asynccontextmanager
async def reader(settings: Settings, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer assigned every partition of ``topic``, positioned at the end."""
    client = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await start_client(client, settings)
    try:
        partitions = client.partitions_for_topic(topic)
        if not partitions:
            raise BrokerError(
                f"topic {topic} does not exist at {settings.kafka_bootstrap}: start the broker "
                "or a worker first (both create traitflow's topics), or check --topic-prefix"
            )
        client.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        yield client
    finally:
        await stop_consumer(client)


async def stop_consumer(client: AIOKafkaConsumer) -> None:
    """Stop a group-less consumer.

    aiokafka 0.14 lets its internal reset task's CancelledError escape ``stop()`` when the
    consumer never had a subscription. That one is swallowed; a cancellation of the calling
    task itself is not.
    """
    try:
        await client.stop()
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


async def publish_bundled(
    settings: Settings, topic: str, keyed: Iterable[tuple[bytes, bytes]]
) -> int:
    """Send (routing key, message) pairs as bundles, a record per partition's messages
    (``traitflow.ingest.bundles``), and wait for every acknowledgement; return how many
    records were sent."""
    async with producer(settings) as client:
        pending = await send_bundled(client, topic, keyed)
        for acknowledgement in pending:
            await acknowledgement
    return len(pending)


async def send_bundled(
    client: AIOKafkaProducer, topic: str, keyed: Iterable[tuple[bytes, bytes]]
) -> list[asyncio.Future[Any]]:
    """Send (routing key, message) pairs as bundles; the acknowledgements to wait for."""
    partitions = len(await client.partitions_for(topic))
    return [
        await client.send(topic, value, partition=partition, headers=headers)
        for partition, value, headers in bundle(keyed, partitions)
    ]


async def publish(
    settings: Settings,
    topic: str,
    records: Iterable[Record],
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Send ``records`` (each with ``headers``) and wait for every acknowledgement; return
    how many were sent."""
    async with producer(settings) as client:
        pending = [
            await client.send(topic, key=key, value=value, headers=headers)
            for key, value in records
        ]
        for acknowledgement in pending:
            await acknowledgement
    return len(pending)
