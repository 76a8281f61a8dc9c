"""Every applied or deleted definition, kept for good on the history topic.

The segments topic is compacted: it keeps only each definition's latest revision. The
history topic (never expired, never compacted) keeps one record per change: which
definition, applied or deleted, its revision and content, when, by whom, and the
definitions version (segments-topic offset) it became. ``segments history KEY`` reads it.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import TopicPartition

from traitflow.broker.clients import producer, reader
from traitflow.broker.offsets import read_to_end
from traitflow.config import Settings
from traitflow.decoding import json_object
from traitflow.segments.definition import Definition, Segment
from traitflow.timeutil import iso_from_ms, now_ms


def applied(definition: Definition, version: int, by: str, at_ms: int) -> dict[str, Any]:
    kind = "segment" if isinstance(definition, Segment) else "computed"
    return {"key": definition.record_key, "kind": kind, "action": "applied",
            "revision": definition.rev, "spec": definition.spec, "version": version,
            "at": iso_from_ms(at_ms), "by": by}  # fmt: skip


def deleted(record_key: str, version: int, by: str, at_ms: int) -> dict[str, Any]:
    return {"key": record_key, "action": "deleted", "revision": None, "spec": None,
            "version": version, "at": iso_from_ms(at_ms), "by": by}  # fmt: skip


def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return "unknown"


async def record_changes(settings: Settings, changes: Sequence[dict[str, Any]]) -> None:
    async with producer(settings) as client:
        pending = [
            await client.send(settings.topics.history, orjson.dumps(change),
                              key=str(change["key"]).encode())
            for change in changes
        ]  # fmt: skip
        for acknowledgement in pending:
            await acknowledgement


async def record_applied(
    settings: Settings, definitions: Sequence[Definition], version: int, by: str | None = None
) -> None:
    """``by``: who asked (the admin API names its caller); the OS user for the CLI."""
    at = now_ms()
    await record_changes(settings, [applied(d, version, by or who(), at) for d in definitions])


async def record_deleted(
    settings: Settings, record_key: str, version: int, by: str | None = None
) -> None:
    await record_changes(settings, [deleted(record_key, version, by or who(), now_ms())])


async def history_of(settings: Settings, record_key: str) -> list[dict[str, Any]]:
    """The changes of one definition (``computed/KEY`` for a computed trait), oldest first."""
    partition = TopicPartition(settings.topics.history, 0)
    async with reader(settings, settings.topics.history) as consumer:
        await consumer.seek_to_beginning(partition)
        records = await read_to_end(consumer, [partition])
    wanted = record_key.encode()
    found = [json_object(r, {"version": int}) for r in records if r.key == wanted]
    return [change for change in found if change is not None]
