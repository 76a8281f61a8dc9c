"""Short-lived aiokafka clients for the CLI tools, configured from ``Settings``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from traitflow.broker.connection import kafka_options, start_client
from traitflow.broker.denials import explained
from traitflow.broker.topics import topic_partitions
from traitflow.config import Settings
from traitflow.exceptions import BrokerError

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
        async with explained(settings, "Write"):
            yield client
    finally:
        await client.stop()


@asynccontextmanager
async def reader(settings: Settings, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer assigned every partition of ``topic``, positioned at the end."""
    partitions = await topic_partitions(settings, topic)
    client = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await start_client(client, settings)
    try:
        if not partitions:
            raise BrokerError(
                f"topic {topic} does not exist at {settings.kafka_bootstrap}: start the broker "
                "or a worker first (both create traitflow's topics), or check --topic-prefix"
            )
        client.assign([TopicPartition(topic, p) for p in partitions])
        async with explained(settings, "Read"):
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
