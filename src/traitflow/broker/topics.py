"""Waiting for a broker and creating traitflow's topics, on any Kafka-protocol broker."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from traitflow.broker.connection import kafka_options, start_client
from traitflow.broker.denials import refusal
from traitflow.config import Settings
from traitflow.exceptions import BrokerError

TOPIC_ALREADY_EXISTS = 36
REFUSED_CODES = {29: TopicAuthorizationFailedError, 31: ClusterAuthorizationFailedError}


async def wait_for_broker(settings: Settings, timeout: float = 30.0) -> None:
    """Return once a metadata request to the configured brokers succeeds."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type((KafkaError, OSError)),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.1),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                await _answers(settings)
    except (KafkaError, OSError) as exc:
        raise BrokerError(
            f"no Kafka broker answered at {settings.kafka_bootstrap} within {timeout:.0f}s: {exc}"
        ) from None


async def _answers(settings: Settings) -> None:
    """One metadata request, once the first address accepts connections at all."""
    if not await _accepts_connections(settings.kafka_bootstrap):
        raise OSError("connection refused")
    admin = AIOKafkaAdminClient(**kafka_options(settings), request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


async def _accepts_connections(bootstrap: str) -> bool:
    """A quiet TCP probe of the first address, so a starting broker logs no client errors."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.open_connection(host or "localhost", int(port or 9092))
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def topic_partitions(settings: Settings, topic: str) -> list[int]:
    """The partitions of ``topic``, asked of the brokers by name (a client's own metadata
    lists only the topics it asked about, which on Apache Kafka is none at start); an
    empty list when the topic does not exist."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await start_client(admin, settings)
    try:
        if topic not in await admin.list_topics():  # the embedded broker (Tansu) creates
            return []  # a topic it is asked to describe, with 4 partitions
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0:
        return []
    return sorted(int(partition["partition"]) for partition in described["partitions"])


def topic_specs(settings: Settings) -> list[NewTopic]:
    """The topics traitflow needs; definitions, worker status, suppressions and signed-out
    console sessions live in compacted ones; the deletion audit and the definitions'
    history are never expired."""
    topics, partitions, rf = settings.topics, settings.partitions, settings.replication_factor
    return [
        NewTopic(topics.events, partitions, rf),
        NewTopic(topics.segments, 1, rf, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.membership, partitions, rf),
        NewTopic(topics.deadletter, partitions, rf),
        NewTopic(topics.status, 1, rf, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.audit, 1, rf, topic_configs={"retention.ms": "-1"}),  # kept for good
        NewTopic(topics.history, 1, rf, topic_configs={"retention.ms": "-1"}),
        NewTopic(topics.suppressions, 1, rf, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.sessions, 1, rf, topic_configs={"cleanup.policy": "compact"}),
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; return the names of those created now. Only missing
    ones are asked for: a principal without Create (topics made by the cluster's
    operators) must not fail on topics that exist."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await start_client(admin, settings)
    try:
        specs = topic_specs(settings)
        existing = set(await admin.list_topics())  # never DescribeTopics: Tansu creates
        missing = [spec for spec in specs if spec.name not in existing]
        response = await admin.create_topics(missing) if missing else None
        created = []
        for name, code, message in response.topic_errors if response else []:
            if code == 0:
                created.append(name)
            elif code in REFUSED_CODES:
                raise refusal(settings, REFUSED_CODES[code](name), "Create", name)
            elif code != TOPIC_ALREADY_EXISTS:
                raise BrokerError(f"cannot create topic {name}: error {code} {message}")
        await _until_led(admin, {spec.name: spec.num_partitions for spec in specs})
    finally:
        await admin.close()
    return created


async def _until_led(admin: AIOKafkaAdminClient, expected: dict[str, int],
                     timeout_s: float = 30.0) -> None:  # fmt: skip
    """Wait until every topic has all its partitions, each with a leader. Apache Kafka
    answers CreateTopics before its brokers' metadata lists the new topic: a client
    started at once would not find it."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(list(expected))
        missing = [
            topic["topic"] for topic in described
            if topic["error_code"] != 0
            or len([p for p in topic["partitions"] if p["leader"] >= 0]) < expected[topic["topic"]]
        ]  # fmt: skip
        if not missing:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise BrokerError(f"topics {', '.join(missing)} have no leader after {timeout_s:.0f} s")
        await asyncio.sleep(0.1)
