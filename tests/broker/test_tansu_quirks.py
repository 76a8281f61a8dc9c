"""The Tansu bug that ``traitflow.broker.compat`` works around, detected on the live broker.

When this test fails, Tansu reports true end offsets: delete the compat transport and this
file, and switch the embedded broker URL back to ``kafka://``.
"""

from __future__ import annotations

import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.conftest import BrokerUnderTest
from traitflow.broker.clients import producer
from traitflow.broker.compat import TANSU_FETCH_MAX_WAIT_MS
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


async def _delivery_ms(settings: Settings, fetch_max_wait_ms: int) -> float:
    """How long a record produced to an idle partition takes to reach a waiting consumer."""
    tp = TopicPartition(settings.topics.events, 1)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, fetch_max_wait_ms=fetch_max_wait_ms
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.getmany(timeout_ms=300)  # a fetch is now waiting at the broker
        async with producer(settings) as client:
            started = time.monotonic()
            await client.send_and_wait(settings.topics.events, b"x", partition=1)
        while not (await consumer.getmany(tp, timeout_ms=3000)).get(tp):
            pass
        return (time.monotonic() - started) * 1000
    finally:
        await consumer.stop()


async def test_tansu_still_holds_a_fetch_well_into_its_maximum_wait(
    broker: BrokerUnderTest, settings: Settings
) -> None:
    if broker.kind != "embedded":
        pytest.skip("the quirk is Tansu's; Kafka answers a fetch as soon as records arrive")
    slow = min([await _delivery_ms(settings, 1500) for _ in range(3)])
    quick = min([await _delivery_ms(settings, TANSU_FETCH_MAX_WAIT_MS) for _ in range(3)])
    assert slow > 150, f"Tansu answers fetches at once now ({slow:.0f} ms): drop the wait"
    assert quick < 100
