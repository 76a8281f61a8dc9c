"""The suppressions topic, followed by a worker or bridge (see ``suppressions``)."""

from __future__ import annotations

from typing import Any

from traitflow.broker.feed import CompactedFeed, Record
from traitflow.privacy.suppressions import Suppressions


def suppression_feed(connection: dict[str, Any], topic: str, into: Suppressions) -> CompactedFeed:
    def apply_one(record: Record) -> None:
        into.apply_one(record.key, record.value)

    return CompactedFeed(connection, topic, apply_one)
