"""Reading JSON records from topics any producer with write access can write.

Each topic traitflow reads has one way in (events: ``traitflow.ingest.records``; the
compacted feeds: ``traitflow.broker.feed``; membership events:
``traitflow.membership.events.read_membership_event``). For the topics only the admin
API and the CLI read (status, history, audit, dead letters), this is it: a record is a
JSON object with the fields it must have, of their types, or it is skipped and logged with
its place, never a 500 or a stopped command.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)


def json_object(record: Any, required: dict[str, type | tuple[type, ...]]) -> dict[str, Any] | None:
    """The record's value as a JSON object holding ``required`` (name -> type); None,
    logged with topic/partition/offset, for anything else."""
    value = record.value
    try:
        found = orjson.loads(value) if isinstance(value, bytes) else None
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict) or not all(
        _typed(found.get(name), kind) for name, kind in required.items()
    ):
        log.warning("skipped an unreadable record %s/%s/%s", record.topic, record.partition,
                    record.offset)  # fmt: skip
        return None
    return found


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, except that ``true`` is no integer."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
