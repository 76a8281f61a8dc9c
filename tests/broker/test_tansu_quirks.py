"""The Tansu bug that ``traitflow.broker.compat`` works around, detected on the live broker.

When this test fails, Tansu reports true end offsets: delete the compat transport and this
file, and switch the embedded broker URL back to ``kafka://``.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.conftest import BrokerUnderTest
from traitflow.broker.clients import producer
from traitflow.broker.offsets import fetched_highwaters
from traitflow.config import Settings

pytestmark = pytest.mark.integration

RECORDS = 500


async def _fill_in_batches(settings: Settings) -> TopicPartition:
    async with producer(settings) as client:
        pending = [
            await client.send(settings.topics.events, b"x" * 50, key=b"k", partition=0)
            for _ in range(RECORDS)
        ]
        for acknowledgement in pending:
            await acknowledgement
    return TopicPartition(settings.topics.events, 0)


async def test_fetch_highwater_is_the_true_end_on_any_broker(settings: Settings) -> None:
    tp = await _fill_in_batches(settings)
    assert await fetched_highwaters(settings.kafka_bootstrap, {tp: 0}) == {tp: RECORDS}


async def test_tansu_list_offsets_still_reports_too_low_after_batches(
    broker: BrokerUnderTest, settings: Settings
) -> None:
    if broker.kind != "embedded":
        pytest.skip("the quirk is Tansu's; real Kafka reports the true end")
    tp = await _fill_in_batches(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        listed = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    assert listed < RECORDS, "Tansu fixed ListOffsets: remove traitflow.broker.compat"
