"""Which partition a key goes to: Kafka's default partitioner, as producers and Faust use it."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as producers and Faust use it."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
