"""Kafka behind the bridge: a request is answered only once Kafka acknowledged it."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from traitflow.bridge.intake import MessageRecord
from traitflow.broker.clients import producer_options
from traitflow.config import Settings
from traitflow.exceptions import TraitflowError
from traitflow.ingest.publisher import send_messages

log = logging.getLogger(__name__)
READY_CACHE_S = 1.5  # a readiness answer stays good this long
READY_TIMEOUT_S = 2.0


class KafkaUnavailable(TraitflowError):
    """Kafka did not acknowledge in time: the client should retry (503, Retry-After)."""


class Publisher:
    """One shared producer (acks=all), started lazily and restarted after a failed start, so
    the bridge can come up before Kafka and answer 503 until Kafka answers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._checking = asyncio.Lock()
        self._checked: tuple[float, bool] | None = None  # when, and whether Kafka answered
        self._where = settings.kafka_bootstrap

    async def publish(self, topic: str, records: list[MessageRecord]) -> None:
        """Send ``records`` in order and wait for every acknowledgement. A batch's messages
        of one partition go as one bundle (``traitflow.ingest.publisher``): the worker
        applies them several times faster than a record each."""
        if not records:
            return
        client = await self._started()
        try:
            async with asyncio.timeout(self.settings.bridge_ack_timeout_s):
                await asyncio.gather(*await send_messages(client, topic, records))
        except (KafkaError, TimeoutError) as exc:
            raise KafkaUnavailable(f"Kafka did not acknowledge: {exc!r}") from exc

    async def ready(self) -> bool:
        """True when Kafka answered a metadata request within the last ``READY_CACHE_S``: a
        request would be published now. One round trip per period, however many probes."""
        async with self._checking:
            now = time.monotonic()
            if self._checked is None or now - self._checked[0] >= READY_CACHE_S:
                self._checked = (now, await self._round_trip())
            return self._checked[1]

    async def _round_trip(self) -> bool:
        try:
            client = await self._started()
            async with asyncio.timeout(READY_TIMEOUT_S):
                await client.client.fetch_all_metadata()
        except (KafkaUnavailable, KafkaError, TimeoutError, OSError) as exc:
            log.warning("not ready: Kafka at %s did not answer: %r", self._where, exc)
            return False
        return True

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                self._producer = await self._start()
            return self._producer

    async def _start(self) -> AIOKafkaProducer:
        client = AIOKafkaProducer(**{**producer_options(self.settings), "linger_ms": 0})
        try:
            async with asyncio.timeout(self.settings.bridge_ack_timeout_s):
                await client.start()
        except (KafkaError, TimeoutError, OSError) as exc:
            await client.stop()
            log.warning("Kafka at %s is unreachable: %r", self.settings.kafka_bootstrap, exc)
            raise KafkaUnavailable(f"Kafka is unreachable: {exc!r}") from exc
        return client
