"""Are traitflow's topics set up for production? Replication, ``min.insync.replicas``,
compacted changelogs, and an events retention that holds the live definitions' windows.

``traitflow topics check`` prints the findings; a worker logs them as warnings at start.
What the brokers say is read with the admin API (DescribeTopics, DescribeConfigs), so the
answer is the cluster's own, not what traitflow asked for when it created the topics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from traitflow.broker.connection import kafka_options, start_client
from traitflow.config import Settings
from traitflow.segments.definition import Definition
from traitflow.segments.replay import definition_features

PRODUCTION_REPLICAS = 3
PRODUCTION_MIN_INSYNC = 2
DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicFacts:
    """What the cluster says of one topic (``retention_ms`` None: kept for good)."""

    name: str
    replicas: int
    min_insync: int
    cleanup_policy: str
    retention_ms: int | None


async def topic_facts(settings: Settings, names: Sequence[str]) -> dict[str, TopicFacts]:
    """The facts of the topics in ``names`` that exist."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await start_client(admin, settings)
    try:
        existing = set(await admin.list_topics())  # described, Tansu would create them
        present = [name for name in names if name in existing]
        described = {
            topic["topic"]: topic
            for topic in (await admin.describe_topics(present) if present else [])
            if topic["error_code"] == 0
        }
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in described]
        responses = await admin.describe_configs(resources) if resources else []
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _message, _kind, name, entries in response.resources:
            configs[name] = {entry[0]: entry[1] for entry in entries}
    found = {}
    for name, topic in described.items():
        config = configs.get(name, {})
        replicas = min((len(p["replicas"]) for p in topic["partitions"]), default=0)
        retention = int(config.get("retention.ms") or -1)
        found[name] = TopicFacts(
            name=name,
            replicas=replicas,
            min_insync=int(config.get("min.insync.replicas") or 1),
            cleanup_policy=config.get("cleanup.policy") or "delete",
            retention_ms=None if retention < 0 else retention,
        )
    return found


def longest_reach_ms(definitions: Iterable[Definition], now_ms: int) -> int | None:
    """How far back the live definitions' event windows reach; None when one counts over
    all time (a replay then reads the whole history); 0 when none counts events."""
    reach = 0
    for definition in definitions:
        for feature in definition_features(definition):
            window = feature.window
            if window.last_ms is not None:
                reach = max(reach, window.last_ms + window.offset_ms)
            elif window.start_ms is not None:
                reach = max(reach, now_ms - window.start_ms)
            else:
                return None
    return reach


def findings(settings: Settings, facts: dict[str, TopicFacts], reach_ms: int | None) -> list[str]:
    """One sentence per topic setting below production, each saying what to change."""
    topics = settings.topics
    found = []
    for name in topics.every:
        fact = facts.get(name)
        if fact is None:
            if name not in topics.changelogs:  # a worker creates those when it first starts
                found.append(f"{name}: missing (a worker or `traitflow broker` creates it)")
            continue
        if fact.replicas < PRODUCTION_REPLICAS:
            found.append(f"{name}: replication factor {fact.replicas}, below "
                         f"{PRODUCTION_REPLICAS}: one broker lost loses data "
                         "(TRAITFLOW_REPLICATION_FACTOR for new topics; "
                         "kafka-reassign-partitions for these)")  # fmt: skip
        elif fact.min_insync < PRODUCTION_MIN_INSYNC:
            found.append(f"{name}: min.insync.replicas {fact.min_insync}, below "
                         f"{PRODUCTION_MIN_INSYNC}: an acknowledged write may live on one "
                         "broker only (kafka-configs --alter --add-config "
                         f"min.insync.replicas={PRODUCTION_MIN_INSYNC})")  # fmt: skip
        if name in topics.compacted and "compact" not in fact.cleanup_policy:
            found.append(f"{name}: cleanup.policy {fact.cleanup_policy}, not compact: "
                         "its oldest records (definitions, state) would be deleted "
                         "(kafka-configs --alter --add-config cleanup.policy=compact)")  # fmt: skip
    events = facts.get(topics.events)
    if events is not None and events.retention_ms is not None:
        days = events.retention_ms / DAY_MS
        if reach_ms is None:
            found.append(f"{topics.events}: retention.ms keeps {days:g} days, and a live "
                         "definition counts events over all time: a replay (a new or "
                         "changed definition) counts only what is kept (retention.ms=-1 "
                         "keeps it all)")  # fmt: skip
        elif reach_ms > events.retention_ms:
            found.append(f"{topics.events}: retention.ms keeps {days:g} days, and a live "
                         f"window reaches back {reach_ms / DAY_MS:g} days: a replay "
                         "counts only what is kept (raise retention.ms to at least "
                         f"{reach_ms})")  # fmt: skip
    return found


async def check_topics(settings: Settings, definitions: Iterable[Definition],
                       now_ms: int) -> list[str]:  # fmt: skip
    """``findings`` for the topics as the cluster has them and ``definitions``."""
    facts = await topic_facts(settings, settings.topics.every)
    return findings(settings, facts, longest_reach_ms(definitions, now_ms))


async def retention_shortfall(
    settings: Settings, definitions: Iterable[Definition], now_ms: int
) -> list[str]:
    """At apply: the line to show when the events topic's ``retention.ms`` (the cluster's
    own config) is shorter than a window of ``definitions`` reaches back, whether or not
    anything was deleted yet. Nothing on the embedded broker (it has no retention)."""
    if settings.embedded:
        return []
    reach = longest_reach_ms(definitions, now_ms)
    if reach == 0:
        return []
    events = (await topic_facts(settings, [settings.topics.events])).get(settings.topics.events)
    if events is None or events.retention_ms is None:
        return []
    if reach is not None and reach <= events.retention_ms:
        return []
    return [line for line in findings(settings, {events.name: events}, reach)
            if line.startswith(f"{events.name}: retention.ms")]  # fmt: skip
