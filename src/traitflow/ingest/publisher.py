"""Publishing messages: the one way every ingest source sends (the bridge, ``import``,
``sync``, ``send --bundle``, the benchmarks): a partition's messages as bundles, a lone
or keyless message as a plain record; see ``traitflow.ingest.bundles``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from traitflow.broker.clients import producer
from traitflow.config import Settings
from traitflow.ingest.bundles import pack

Keyed = Iterable[tuple[bytes | None, bytes]]  # (routing key, message)


async def publish_messages(
    settings: Settings, topic: str, keyed: Keyed, *, bundled: bool = True
) -> int:
    """Send (routing key, message) pairs with a producer of their own and wait for every
    acknowledgement; return how many records were sent."""
    async with producer(settings) as client:
        pending = await send_messages(client, topic, keyed, bundled=bundled)
        for acknowledgement in pending:
            await acknowledgement
    return len(pending)


async def send_messages(
    client: AIOKafkaProducer, topic: str, keyed: Keyed, *, bundled: bool = True
) -> list[asyncio.Future[Any]]:
    """Send (routing key, message) pairs, in order per partition, as bundles unless
    ``bundled`` is false (a record each, as third-party producers send); the
    acknowledgements to wait for."""
    if not bundled:
        return [await client.send(topic, value, key=key) for key, value in keyed]
    partitions = len(await client.partitions_for(topic))
    return [
        await client.send(topic, value, key=key, partition=partition, headers=headers)
        for key, partition, value, headers in pack(keyed, partitions)
    ]
