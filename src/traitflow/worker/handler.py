"""What the worker does with one record of the events topic; Faust only feeds it.

Order matters for no loss: membership events are acknowledged by Kafka before the profile
that records them is written, so a crash can repeat an event (same id), never lose one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from traitflow.clock import Clock
from traitflow.commands import BackfillCommand, TickCommand, command_kind
from traitflow.config import Settings
from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import Message, parse_message
from traitflow.segments import Registry
from traitflow.timeutil import now_ms
from traitflow.worker.backfill import Backfiller
from traitflow.worker.metrics import WorkerMetrics, reason_kind
from traitflow.worker.pipeline import Outcome, process
from traitflow.worker.sinks import Sinks, deliver, publish_transitions
from traitflow.worker.state import ProfileStore
from traitflow.worker.timers import Ticker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from, for dead-letter headers and fallback event time."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


class EventHandler:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: ProfileStore,
        sinks: Sinks,
        clock: Clock,
        backfiller: Backfiller,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.sinks = sinks
        self.clock = clock
        self.backfiller = backfiller
        self.ticker = Ticker(registry, store, sinks)
        self.metrics = metrics
        self.processed: dict[int, int] = {}  # partition -> last offset handled (for lag)

    async def handle(
        self, key: bytes | None, raw: bytes, origin: Origin, headers: Any = None
    ) -> None:
        """Process one record; bad input and failures to decide go to the dead-letter topic.

        Failing to *publish* is not the input's fault: it propagates, the worker stops
        without committing, and the record is processed again after restart.
        """
        self.processed[origin.partition] = origin.offset
        kind = command_kind(headers)
        if kind is not None:
            await self._command(kind, key, raw, origin)
            return
        now = self.clock.now_ms()
        try:
            message = parse_message(
                raw,
                max_bytes=self.settings.max_message_bytes,
                fallback_timestamp_ms=origin.timestamp_ms,
                latest_ms=now + int(self.settings.future_tolerance_s * 1000),
            )
            person = message.person.encode()
            with self.metrics.evaluation.time():
                decided = self._decide(message, now, origin.offset) if key == person else None
        except InvalidMessage as exc:
            await self._dead_letter(key, raw, exc.reason, origin)
            return
        except Exception as exc:
            log.exception("cannot process %s", origin)
            await self._dead_letter(key, raw, f"internal error: {exc!r}", origin)
            return
        if decided is None:
            await deliver(self.sinks.events, [(person, raw, None)])  # re-key to its person
            return
        outcome, previous_due = decided
        await publish_transitions(self.sinks, person, origin.partition, outcome.events)
        self.store.save(person, outcome.profile, previous_due)
        self.metrics.messages.labels(message.type).inc()
        if outcome.events:
            self.metrics.end_to_end.observe(max(0, now_ms() - message.timestamp_ms) / 1000)

    def _decide(self, message: Message, now_ms: int, offset: int) -> tuple[Outcome, int | None]:
        """Process ``message`` unless the stored profile already applied it.

        After a crash Kafka redelivers records past the last committed offset, though the
        profile may already hold their effect (Faust writes the changelog before it commits
        offsets). Applying one twice would count its event twice, so the profile records the
        offset it applied last. A repeat publishes nothing and saves the profile unchanged,
        which re-sends its changelog record in case the crash lost it.
        """
        profile = self.store.load(message.person.encode())
        previous_due = profile.next_due_ms() if profile is not None else None
        if profile is not None and offset <= profile.applied_offset:
            log.debug("offset %d already applied to its profile", offset)
            return Outcome(profile, []), previous_due
        outcome = process(profile, message, self.registry, self.settings.unset_marker, now_ms)
        outcome.profile.applied_offset = offset
        return outcome, previous_due

    async def _command(self, kind: str, key: bytes | None, raw: bytes, origin: Origin) -> None:
        try:
            if kind == "tick":
                await self.ticker.run_tick(TickCommand.from_bytes(raw), origin.partition)
            elif kind == "backfill":
                await self.backfiller.run_chunk(BackfillCommand.from_bytes(raw), origin.partition)
            else:
                await self._dead_letter(key, raw, f"unknown command {kind!r}", origin)
        except (orjson.JSONDecodeError, TypeError) as exc:
            await self._dead_letter(key, raw, f"invalid {kind} command: {exc}", origin)

    async def _dead_letter(
        self, key: bytes | None, raw: bytes, reason: str, origin: Origin
    ) -> None:
        log.warning(
            "dead-lettered %s[%d]@%d: %s", origin.topic, origin.partition, origin.offset, reason
        )
        self.metrics.dead_letters.labels(reason_kind(reason)).inc()
        headers = [
            ("traitflow-reason", reason.encode()),
            ("traitflow-source", f"{origin.topic}/{origin.partition}/{origin.offset}".encode()),
        ]
        await deliver(self.sinks.deadletter, [(key, raw, headers)])
