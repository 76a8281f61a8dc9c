"""Faust transport for the embedded Tansu broker (URL scheme ``tansu://``).

Faust restores tables up to the end offsets that ListOffsets reports. Tansu answers too
low after multi-record batches, so recovery would stop short and the next start fail its
consistency check. This transport asks a fetch response instead. It is used only with the
embedded broker; ``tests/broker/test_tansu_quirks.py`` fails once Tansu is fixed, so the
layer can then go.

Records reach the worker a fetch at a time, as with ``traitflow://`` (see
``traitflow.broker.delivery``).

Tansu also answers a fetch only well into its maximum wait, even when records arrive at
once (Kafka answers as soon as it has them). Faust fixes that wait at 1.5 s, which made
every message wait about 0.45 s before the worker saw it; this transport asks for 50 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import TopicPartition

from traitflow.broker import delivery
from traitflow.broker.offsets import fetched_highwaters

TANSU_FETCH_MAX_WAIT_MS = 50


class ConsumerThread(delivery.ConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = TANSU_FETCH_MAX_WAIT_MS  # read when it starts
        return consumer

    async def _highwaters(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        reported: Mapping[TopicPartition, int] = await super()._highwaters(partitions)
        if not reported:
            return reported
        return await fetched_highwaters(_bootstrap(self.app), reported)


class Consumer(delivery.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(delivery.Transport):
    Consumer = Consumer


def _bootstrap(app: Any) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)
