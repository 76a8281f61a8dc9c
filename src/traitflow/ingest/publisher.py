"""Publishing messages as bundles: a record per partition's messages, for traitflow's own
producers (``send``, ``import``, the demo, the benchmarks); see ``traitflow.ingest.bundles``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from traitflow.broker.clients import producer
from traitflow.config import Settings
from traitflow.ingest.bundles import bundle


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
