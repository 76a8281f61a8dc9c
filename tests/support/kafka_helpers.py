"""Reading and writing test topics with deadlines instead of sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.messages import message as spec
from tests.support.waiting import eventually
from traitflow.broker.clients import publish, reader
from traitflow.broker.connection import kafka_options
from traitflow.broker.offsets import fetched_highwaters
from traitflow.catalog.topic import Applied, apply_definitions, wait_for_replay
from traitflow.config import Settings
from traitflow.exceptions import BrokerError
from traitflow.ingest.bundles import bundle_size, unbundle
from traitflow.ingest.messages import routing_key
from traitflow.segments import Definition

Record = ConsumerRecord[bytes, bytes]


async def apply_and_wait(settings: Settings, definitions: list[Definition]) -> Applied:
    """Apply definitions (a worker running), and wait until the replay of history they ask
    for is complete, so that the messages a test sends next are decided live (with their
    own cause)."""
    applied = await apply_definitions(settings, definitions)
    await replayed(settings, applied)
    return applied


async def replayed(settings: Settings, applied: Applied) -> None:
    """Wait until the replay ``applied`` asked for, if any, is complete (workers started)."""
    if applied.replay is not None:
        await wait_for_replay(settings, applied.replay.id, timeout_s=60)


async def send_messages(settings: Settings, *messages: dict[str, Any] | bytes) -> None:
    """Publish to the events topic, keyed by person like every traitflow producer."""
    records = []
    for message in messages:
        if isinstance(message, bytes):
            records.append((b"u-bad", message))
        else:
            records.append((routing_key(message), orjson.dumps(message)))
    await publish(settings, settings.topics.events, records)


async def read_records(
    settings: Settings,
    topic: str,
    count: int,
    timeout: float = 60.0,
    settle: float = 0.0,
    size: Callable[[list[Record]], int] = len,
) -> list[Record]:
    """Records from the start of ``topic``: at least ``count`` of them (as ``size``
    counts them) within ``timeout``.

    With ``settle``, keep reading that many seconds after ``count`` is reached, so a test can
    show that no *extra* record (a duplicate event) arrives.
    """
    found: list[Record] = []
    await _topic_exists(settings, topic, timeout)
    async with reader(settings, topic) as consumer:
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            found.extend(record for records in batch.values() for record in records)
            if size(found) >= count:
                deadline = min(deadline, time.monotonic() + settle)
                if not settle:
                    break
    return found


async def read_messages(
    settings: Settings, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The first ``count`` messages of the events topic, bundles opened, in record order."""
    records = await read_records(
        settings, settings.topics.events, count, timeout, size=_message_count
    )
    return messages_of(records)


def _message_count(records: list[Record]) -> int:
    return sum(bundle_size(record.headers) or 1 for record in records)


def messages_of(records: list[Record]) -> list[dict[str, Any]]:
    """The messages records carry: one each, or a bundle's lines."""
    found = []
    for record in records:
        lines = unbundle(record.value) if bundle_size(record.headers) else [record.value]
        found += [orjson.loads(line) for line in lines]
    return found


async def membership_events(settings: Settings, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    records = await read_records(settings, settings.topics.membership, count, **kwargs)
    events = [orjson.loads(record.value) for record in records]
    return sorted(events, key=lambda event: (event["person"], event["segment"], event["version"]))


def identify(user: str, stamp: str, message_id: str, **traits: Any) -> dict[str, Any]:
    return spec("identify", stamp, message_id, userId=user, traits=traits)


async def _topic_exists(settings: Settings, topic: str, timeout: float) -> None:
    """Topics that workers create (changelogs) may not exist yet when a test looks."""

    async def exists() -> bool:
        try:
            async with reader(settings, topic):
                return True
        except BrokerError:
            return False

    if not await eventually(exists, timeout=timeout):
        async with reader(settings, topic):  # raises, naming the topic
            pass


class Group:
    """The worker's consumer group as the broker describes it: for waiting on a settled
    group (a kill's session expired, a rebalance finished) instead of sleeping."""

    def __init__(self, settings: Settings, group_id: str | None = None) -> None:
        self.settings = settings
        self.group_id = group_id or settings.app_id
        self.admin = AIOKafkaAdminClient(**kafka_options(settings))

    async def __aenter__(self) -> Group:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.admin.close()

    async def members(self) -> tuple[str, frozenset[str]]:
        """The group's state (``Stable`` once a rebalance is over) and its member ids."""
        (response,) = await self.admin.describe_consumer_groups([self.group_id])
        _, _, state, _, _, members = response.groups[0]
        return state, frozenset(member[0] for member in members)

    async def settled(self, count: int, other_than: frozenset[str] = frozenset()) -> frozenset[str]:
        """Wait until the group is stable with ``count`` members, and not ``other_than``
        (the members before a kill: until the dead one's session expired)."""

        def done(found: tuple[str, frozenset[str]]) -> bool:
            state, members = found
            return state == "Stable" and len(members) == count and members != other_than

        state, members = await eventually(self.members, done, timeout=90)
        assert done((state, members)), f"the group never settled: {state}, {sorted(members)}"
        return members

    async def caught_up(self, topic: str) -> None:
        """Wait until the group committed every record of ``topic``: nothing of it can be
        processed again, so nothing it causes can be published again."""
        offsets = AIOKafkaConsumer(**kafka_options(self.settings), group_id=self.group_id,
                                   enable_auto_commit=False)  # fmt: skip
        await offsets.start()  # assigned nothing: it reads the group's offsets, never joins

        async def uncommitted() -> int:
            async with reader(self.settings, topic) as consumer:
                partitions = list(consumer.assignment())
            committed = {tp: await offsets.committed(tp) or 0 for tp in partitions}
            ends = await fetched_highwaters(self.settings.kafka_bootstrap, committed)
            return sum(ends[tp] - committed[tp] for tp in partitions)

        try:
            left = await eventually(uncommitted, lambda n: n == 0, timeout=90)
        finally:
            await offsets.stop()
        assert left == 0, f"{left} records of {topic} not committed"
