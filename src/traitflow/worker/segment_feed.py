"""Keeps a worker's registry in step with the compacted segments topic, without restarts."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from traitflow.broker.feed import CompactedFeed, Record
from traitflow.segments import Registry

log = logging.getLogger(__name__)


class SegmentFeed(CompactedFeed):
    def __init__(self, connection: dict[str, Any], topic: str, registry: Registry) -> None:
        super().__init__(connection, topic, self._apply_one, registry.batch)
        self.registry = registry

    async def loaded(self, version: int, timeout: float = 60.0) -> None:
        """Wait until definitions up to ``version`` (a segments-topic offset) are applied."""
        deadline = time.monotonic() + timeout
        while self.registry.version < version:
            if time.monotonic() > deadline:
                log.warning("definitions v%d not seen after %.0fs; going on", version, timeout)
                return
            await asyncio.sleep(0.05)

    def _apply_one(self, record: Record) -> None:
        self.registry.apply_record(record.key, record.value, record.offset, list(record.headers))
        if record.key is not None:
            name = record.key.decode(errors="replace")[:200]
            state = "deleted" if record.value is None else "applied"
            if name in self.registry.unreadable:
                state = "unreadable"
            log.info("definition %s %s", name, state)

    def apply(self, records: list[Record]) -> None:
        first_load = not self.ready.is_set()
        super().apply(records)
        if first_load:
            log.info("segments loaded: %d live", len(self.registry))
