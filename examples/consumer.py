"""An automation reading traitflow's membership topic, dropping repeats and stale events.

Run it next to `traitflow up` (in the same virtualenv):

    python examples/consumer.py --bootstrap 127.0.0.1:19092 --topic traitflow-membership

Every event carries a per-(person, segment) ``version`` that counts transitions, and an
``id`` derived from (person, segment, version). After a worker crash an event may be
published again, with the same id. So an automation keeps, per (person, segment), the
highest version it acted on, and ignores any event at or below it: repeats are dropped,
and so are events older than one already handled. Here that memory is a dict; a real
automation keeps it where it keeps its own state (a database row per person), and
commits its consumer offsets after acting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

Seen = dict[tuple[str, str], int]


def fresh(events: Iterable[dict[str, Any]], seen: Seen) -> Iterator[dict[str, Any]]:
    """The events to act on: newer than anything seen for their (person, segment)."""
    for event in events:
        key = (event["person"], event["segment"])
        if event["version"] <= seen.get(key, 0):
            continue  # a repeat (same id) or stale: already acted on something newer
        seen[key] = event["version"]
        yield event


def act(event: dict[str, Any]) -> None:
    """Stand-in for the real work: send the onboarding email, sync the ad audience...

    ``audience.merged`` ends the absorbed id's membership because it now belongs to
    another person (``merged_into``): replace the id, do not treat it as a departure.
    """
    where = f"{event['segment']} (v{event['version']}, {event['id']})"
    if event["type"] == "audience.merged":
        print(f"{event['person']} is now {event['merged_into']['person']} in {where}")
        return
    verb = "enters" if event["type"] == "audience.entered" else "leaves"
    print(f"{event['person']} {verb} {where}")


async def consume(bootstrap: str, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: Seen = {}
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            events = [orjson.loads(r.value) for records in batch.values() for r in records]
            for event in fresh(events, seen):
                act(event)
            if batch:
                await consumer.commit()  # after acting: a crash repeats, never skips
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--topic", default="traitflow-membership")
    parser.add_argument("--group", default="example-automation")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(consume(args.bootstrap, args.topic, args.group))


if __name__ == "__main__":
    main()
