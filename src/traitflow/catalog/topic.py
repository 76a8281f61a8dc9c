"""Publishing definitions to, and reading them from, the compacted segments topic."""

from __future__ import annotations

import asyncio
import difflib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition

from traitflow.broker.clients import producer, reader
from traitflow.broker.offsets import read_to_end
from traitflow.catalog.history import record_applied, record_deleted
from traitflow.catalog.topic_check import retention_shortfall
from traitflow.clock import clock_for
from traitflow.config import Settings
from traitflow.decoding import json_object
from traitflow.exceptions import InvalidDefinition
from traitflow.jobs import JOB_KEY, BackfillJob, ReplayJob, kind_headers
from traitflow.segments.conditions import Dep
from traitflow.segments.definition import COMPUTED_PREFIX, Definition, Segment
from traitflow.segments.registry import MAX_REFERENCE_DEPTH, Registry
from traitflow.segments.replay import Replay, plan_replays, replay_header
from traitflow.timeutil import iso_from_ms

Headers = list[tuple[str, bytes]]
HeadedRecord = tuple[bytes, bytes | None, Headers]


@dataclass(frozen=True, slots=True)
class Applied:
    """What ``apply_definitions`` did: the definitions version, and the replay of history
    it asked for (with the partitions that no longer hold the window's start)."""

    version: int
    replay: Replay | None = None
    gaps: tuple[str, ...] = ()


async def apply_definitions(
    settings: Settings,
    definitions: list[Definition],
    now_ms: int | None = None,
    by: str | None = None,
) -> Applied:
    """Check definitions against what is live, publish them, and request a backfill (and,
    for features no live definition had, a replay of the events topic's history)."""
    live = await live_registry(settings)
    checked(live, definitions)
    now = now_ms if now_ms is not None else clock_for(settings.clock_file).now_ms()
    plans = plan_replays(live.feature_ids(), definitions, now)
    replay = None
    if plans:
        features = frozenset(f for found, _ in plans.values() for f in found)
        replay = Replay(uuid.uuid4().hex[:12], features, min(at for _, at in plans.values()))
    records = [
        (d.record_key.encode(), orjson.dumps(d.spec), _replay_headers(d, plans, replay, live))
        for d in definitions
    ]
    version = await publish_with_backfill(settings, records, replay)
    await record_applied(settings, definitions, version, by)
    gaps = await retention_gaps(settings, replay.from_ms) if replay else []
    gaps += await retention_shortfall(settings, definitions, now)
    return Applied(version, replay, tuple(gaps))


def _replay_headers(
    definition: Definition,
    plans: dict[str, tuple[list[str], int]],
    replay: Replay | None,
    live: Registry,
) -> Headers:
    """A definition with new features names them; one re-applied while its replay may
    still run keeps the replay it had (dropping it would end that replay early)."""
    plan = plans.get(definition.record_key)
    if plan is not None and replay is not None:
        return [replay_header(Replay(replay.id, frozenset(plan[0]), plan[1]))]
    running = live.replays.get(definition.record_key)
    return [replay_header(running)] if running is not None else []


async def publish_with_backfill(
    settings: Settings, records: Sequence[HeadedRecord], replay: Replay | None = None
) -> int:
    """Publish segments-topic records, then ask every events partition's worker to
    re-decide its stored profiles up to them (and replay history, if asked); return that
    definitions version."""
    async with producer(settings) as client:
        pending = [
            await client.send(settings.topics.segments, v, key=k, headers=h) for k, v, h in records
        ]
        version: int = max([(await ack).offset for ack in pending])
        partitions = await client.partitions_for(settings.topics.events)
        for partition in sorted(partitions):
            jobs: list[tuple[bytes, str]] = []
            if replay is not None:
                features = tuple(sorted(replay.features))
                job = ReplayJob(version, partition, replay.id, features, replay.from_ms)
                jobs.append((job.to_bytes(), "replay"))
            jobs.append((BackfillJob(version, partition).to_bytes(), "backfill"))
            for value, kind in jobs:
                await client.send_and_wait(
                    settings.topics.events,
                    value,
                    key=JOB_KEY,
                    partition=partition,
                    headers=kind_headers(kind),
                )
    return version


async def retention_gaps(settings: Settings, from_ms: int) -> list[str]:
    """Events partitions whose oldest retained record is younger than ``from_ms``: a
    replay from there cannot count what the broker has deleted."""
    gaps = []
    async with reader(settings, settings.topics.events) as consumer:
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        firsts = await consumer.beginning_offsets(partitions)
        for tp in partitions:
            if firsts[tp] == 0:
                continue  # nothing was ever deleted: the whole history is there
            consumer.seek(tp, firsts[tp])
            oldest = (await consumer.getmany(tp, timeout_ms=2000, max_records=1)).get(tp, [])
            note = gap_note(tp.partition, oldest[0].timestamp if oldest else None, from_ms)
            if note is not None:
                gaps.append(note)
    return gaps


def gap_note(partition: int, oldest_ms: int | None, from_ms: int) -> str | None:
    """What to say when a partition, some of whose records were deleted, now starts after
    the window does (None: the window's start is still there)."""
    if oldest_ms is None:
        return f"events partition {partition} retains no history: its records were deleted"
    if oldest_ms <= from_ms:
        return None
    return (
        f"events partition {partition} retains history only from {iso_from_ms(oldest_ms)}, "
        f"after the window's start {iso_from_ms(from_ms)}: counts from history will be "
        "incomplete"
    )


async def backfill_status(settings: Settings) -> list[dict[str, Any]]:
    """The latest progress record of each partition, from the compacted status topic."""
    async with reader(settings, settings.topics.status) as consumer:
        partitions = [TopicPartition(settings.topics.status, 0)]
        await consumer.seek_to_beginning(*partitions)
        records = await read_to_end(consumer, partitions)
    latest = {}
    for record in records:
        status = json_object(record, {"partition": int, "version": int}) if record.key else None
        if status is not None:
            latest[record.key] = status
    return sorted(latest.values(), key=lambda status: int(status["partition"]))


async def wait_for_replay(settings: Settings, replay: str, timeout_s: float = 600.0) -> None:
    """Until every events partition says the replay ``replay`` is complete (its segments
    decide again); ``TimeoutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    async with producer(settings) as client:
        partitions = len(await client.partitions_for(settings.topics.events))
    while True:
        lines = [
            line
            for line in await backfill_status(settings)
            if line.get("kind") == "replay" and line.get("id") == replay and line.get("complete")
        ]
        if len(lines) >= partitions:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"replay {replay}: {len(lines)} of {partitions} partitions complete after "
                f"{timeout_s:.0f}s; see `traitflow segments status`"
            )
        await asyncio.sleep(0.5)


async def delete_segment(settings: Settings, key: str, by: str | None = None) -> int:
    """Publish a tombstone (compaction then forgets the definition) and request a backfill,
    which drops the segment's memberships from stored profiles. An unknown key is refused
    (a typo would otherwise say "deleted" and change nothing)."""
    live = await live_registry(settings)
    if key not in live.segments and key.removeprefix(COMPUTED_PREFIX) not in live.computed:
        known = sorted(live.segments) + [COMPUTED_PREFIX + name for name in live.computed]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidDefinition(
            f"no live definition {key!r}{hint}: nothing deleted; see `traitflow segments list`"
        )
    version = await publish_with_backfill(settings, [(key.encode(), None, [])])
    await record_deleted(settings, key, version, by)
    return version


async def live_registry(settings: Settings) -> Registry:
    """The definitions workers hold now: the segments topic replayed to its end."""
    registry = Registry()
    async with reader(settings, settings.topics.segments) as consumer:
        partitions = [TopicPartition(settings.topics.segments, 0)]
        await consumer.seek_to_beginning(*partitions)
        records = await read_to_end(consumer, partitions)
    with registry.batch():
        registry.apply_records((r.key, r.value, r.offset, r.headers) for r in records)
    return registry


def checked(live: Registry, definitions: Sequence[Definition]) -> Registry:
    """A copy of ``live`` with ``definitions`` put in; refuses what ``apply`` refuses (a
    cycle, a reference to nothing). ``live`` itself is left as it is."""
    registry = Registry([*live.computed.values(), *live.segments.values()])
    with registry.batch():
        for definition in definitions:
            registry.put(definition)
    _refuse_dangling(registry, definitions)
    for definition in definitions:  # a chain applied top first is deep only once whole
        if isinstance(definition, Segment) and registry.rank(definition.key) > MAX_REFERENCE_DEPTH:
            raise InvalidDefinition(
                f"segment {definition.key!r} refers to segments {registry.rank(definition.key)} "
                f"deep; at most {MAX_REFERENCE_DEPTH}"
            )
    return registry


def _refuse_dangling(registry: Registry, definitions: Sequence[Definition]) -> None:
    """A reference to a segment or computed trait that does not exist is a typo."""
    for definition in definitions:
        if not isinstance(definition, Segment):
            continue
        for kind, name in sorted(definition.condition.deps()):
            if _missing(registry, (kind, name)):
                raise InvalidDefinition(
                    f"segment {definition.key!r} refers to unknown {kind} {name!r}: "
                    "apply it first (or in the same file)"
                )


def _missing(registry: Registry, dep: Dep) -> bool:
    kind, name = dep
    if kind == "segment":
        return name not in registry.segments
    return kind == "computed" and name not in registry.computed
