"""The suppressions topic, followed by a worker or bridge (see ``suppressions``)."""

from __future__ import annotations

from typing import Any

from traitflow.broker.feed import CompactedFeed
from traitflow.privacy.suppressions import Suppressions


def suppression_feed(connection: dict[str, Any], topic: str, into: Suppressions) -> CompactedFeed:
    return CompactedFeed(
        connection, topic, lambda records: into.apply((r.key, r.value) for r in records)
    )
