"""Traffic whose every membership transition is known in advance (the reference
evaluator), and the check that a run published each of them, none other, and repeats only
as docs/membership.md allows: the kill -9 tests on workers and on brokers share them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson

from tests.conftest import TEST_NOW_MS
from tests.support.kafka_helpers import Group
from tests.support.waiting import eventually
from traitflow.broker.clients import reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings
from traitflow.ingest.messages import parse_message
from traitflow.membership.events import event_id
from traitflow.segments import Registry, segment_from_spec
from traitflow.segments.reference import reference_flips
from traitflow.timeutil import iso_from_ms

DEFINITIONS = [
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}},
    {"key": "paid", "condition": {"trait": "plan", "op": "=", "value": "paid"}},
    {"key": "active", "condition": {"event": "Visit", "count": {"at_least": 3}}},
    {"key": "second-visit", "condition": {"event": "Visit", "count": {"exactly": 2}}},
    {"key": "engaged", "condition": {"and": [{"segment": "paid"}, {"segment": "active"}]}},
]
PEOPLE, PER_PERSON = 40, 50


def traffic(
    seed: int = 11, people: int = PEOPLE, per_person: int = PER_PERSON
) -> list[dict[str, Any]]:
    """Deterministic: plan changes and visits, one second apart, an hour before 'now'."""
    rng = random.Random(seed)
    start = TEST_NOW_MS - 3_600_000 - people * per_person * 1000
    messages = []
    for n in range(people * per_person):
        person, stamp = f"p{rng.randrange(people)}", iso_from_ms(start + n * 1000)
        if rng.random() < 0.4:
            plan = rng.choice(["trial", "paid", "free"])
            body = {"type": "identify", "userId": person, "traits": {"plan": plan}}
        else:
            body = {"type": "track", "userId": person, "event": "Visit"}
        messages.append({**body, "messageId": f"m{n}", "timestamp": stamp})
    return messages


Transition = tuple[str, str, str, int, str]  # person, segment, type, version, cause message


def expected_events(messages: list[dict[str, Any]]) -> dict[str, Transition]:
    """id -> transition, from the reference evaluator."""
    registry = Registry()
    for spec in DEFINITIONS:
        registry.put(segment_from_spec(spec))
    parsed = [parse_message(orjson.dumps(m), max_bytes=32768, fallback_timestamp_ms=0)
              for m in messages]  # fmt: skip
    versions: Counter[tuple[str, str]] = Counter()
    expected = {}
    for index, person, segment, entered in reference_flips(
        parsed, [TEST_NOW_MS] * len(parsed), registry, "__null__"
    ):
        versions[(person, segment)] += 1
        version = versions[(person, segment)]
        kind = "audience.entered" if entered else "audience.exited"
        cause = messages[index]["messageId"]
        expected[event_id(person, segment, version)] = (person, segment, kind, version, cause)
    return expected


class Followed:
    """The membership events on the topic so far, read in the background."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    async def until(self, done: Callable[[Followed], bool], what: str, timeout: float) -> None:
        reached = await eventually(lambda: done(self), timeout=timeout, every=0.005)
        assert reached, f"timed out waiting for {what}"


async def every_event(settings: Settings, group: Group) -> list[dict[str, Any]]:
    """Once every record of the events topic is committed (none can be processed, so
    publish, again), the whole membership topic."""
    await group.caught_up(settings.topics.events)
    async with reader(settings, settings.topics.membership) as consumer:
        await consumer.seek_to_beginning()
        records = await read_to_end(consumer, list(consumer.assignment()), timeout=60)
    return [orjson.loads(record.value) for record in records]


@asynccontextmanager
async def following(settings: Settings) -> AsyncIterator[Followed]:
    followed = Followed()

    async def follow() -> None:
        async with reader(settings, settings.topics.membership) as consumer:
            await consumer.seek_to_beginning()
            while True:
                batch = await consumer.getmany(timeout_ms=50)
                for record in (r for records in batch.values() for r in records):
                    event = orjson.loads(record.value)
                    followed.events.append(event)
                    followed.ids.add(event["id"])

    task = asyncio.create_task(follow())
    try:
        yield followed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def checked(events: list[dict[str, Any]], expected: dict[str, Transition]) -> int:
    """Every expected transition is among ``events``, none other is, and each repeat is
    identical to its original; how many repeats."""
    seen: dict[str, Transition] = {}
    for event in events:
        found = (
            event["person"],
            event["segment"],
            event["type"],
            event["version"],
            event["cause"]["message_id"],
        )
        assert seen.setdefault(event["id"], found) == found, "a repeat differs from its original"
    extra = {i: e for i, e in seen.items() if i not in expected}
    assert not extra, f"transitions the input does not imply: {sorted(extra.values())[:10]}"
    assert set(seen) == set(expected)
    return len(events) - len(seen)
