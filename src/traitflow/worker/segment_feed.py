"""Keeps a worker's registry in step with the compacted segments topic, without restarts."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from traitflow.broker.feed import CompactedFeed, Records
from traitflow.segments import Registry

log = logging.getLogger(__name__)


class SegmentFeed(CompactedFeed):
    def __init__(self, connection: dict[str, Any], topic: str, registry: Registry) -> None:
        super().__init__(connection, topic, self._apply)
        self.registry = registry

    async def loaded(self, version: int, timeout: float = 60.0) -> None:
        """Wait until definitions up to ``version`` (a segments-topic offset) are applied."""
        deadline = time.monotonic() + timeout
        while self.registry.version < version:
            if time.monotonic() > deadline:
                log.warning("definitions v%d not seen after %.0fs; going on", version, timeout)
                return
            await asyncio.sleep(0.05)

    def _apply(self, records: Records) -> None:
        first_load = not self.ready.is_set()
        with self.registry.batch():
            self.registry.apply_records(
                (r.key, r.value, r.offset, list(r.headers)) for r in records
            )
        for record in records:
            log.info(
                "definition %s %s", record.key, "deleted" if record.value is None else "applied"
            )
        if first_load:
            log.info("segments loaded: %d live", len(self.registry))
