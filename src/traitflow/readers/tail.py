"""Following the membership topic, for ``traitflow tail`` and ``traitflow up``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from traitflow.broker.clients import reader
from traitflow.config import Settings
from traitflow.membership.events import read_membership_event

log = logging.getLogger(__name__)


async def follow(
    settings: Settings, *, from_beginning: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Yield membership events as they arrive, oldest first if ``from_beginning``."""
    async with reader(settings, settings.topics.membership) as consumer:
        if from_beginning:
            await consumer.seek_to_beginning()
        else:
            await consumer.seek_to_end()
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = read_membership_event(record.value)
                    if event is None:
                        log.warning("skipping a record that is no membership event: %s/%d/%d",
                                    record.topic, record.partition, record.offset)  # fmt: skip
                    else:
                        yield event


def describe(event: dict[str, Any]) -> str:
    """One readable line: ``<at>  entered  trial  u1  (v1, identify m1)``."""
    verb = "entered" if event["type"] == "audience.entered" else "exited "
    who = event.get("user_id") or f"anon:{event.get('anonymous_id')}"
    segment, version = event["segment"], event["version"]
    return f"{event['at']}  {verb}  {segment:<20}  {who}  (v{version}, {_cause(event)})"


def _cause(event: dict[str, Any]) -> str:
    cause = event.get("cause", {})
    if cause.get("kind") == "time":
        return "time passed"
    if cause.get("kind") == "backfill":
        return f"backfill {cause.get('message_id')}"
    return f"{cause.get('message_type')} {cause.get('message_id')}"
