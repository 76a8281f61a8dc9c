"""Faust transport for the embedded Tansu broker (URL scheme ``tansu://``).

Faust restores tables up to the end offsets that ListOffsets reports. Tansu answers too
low after multi-record batches, so recovery would stop short and the next start fail its
consistency check. This transport asks a fetch response instead. It is used only with the
embedded broker; ``tests/broker/test_tansu_quirks.py`` fails once Tansu is fixed, so the
layer can then go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

from traitflow.broker.offsets import fetched_highwaters


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def _highwaters(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        reported: Mapping[TopicPartition, int] = await super()._highwaters(partitions)
        if not reported:
            return reported
        return await fetched_highwaters(_bootstrap(self.app), reported)


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


def _bootstrap(app: Any) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)
