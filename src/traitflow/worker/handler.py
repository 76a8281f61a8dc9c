"""What the worker does with one record of the events topic; Faust only feeds it.

Order matters for no loss: membership events are acknowledged by Kafka before the profile
that records them is written, so a crash can repeat an event (same id), never lose one.
Records are handled in batches (``traitflow.worker.batch``): sends go to ``outbox`` and
table writes are held until the batch closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from traitflow.broker.partitioner import partition_of
from traitflow.clock import Clock
from traitflow.commands import BackfillCommand, TickCommand, command_headers, command_kind
from traitflow.config import Settings
from traitflow.exceptions import InvalidMessage
from traitflow.identity.ids import routing_identifier
from traitflow.identity.resolver import (
    CAP_REFUSAL,
    IDENTITY_COMMANDS,
    Absorb,
    Command,
    Link,
    MergeInto,
    Resolver,
    Step,
    decode,
    encode,
    forwarded_headers,
    forwarded_kind,
    identity_rules,
)
from traitflow.ingest.bundles import LINES_PER_POSITION, bundle_size, position, unbundle
from traitflow.ingest.messages import Message, parse_message
from traitflow.segments import Registry
from traitflow.timeutil import now_ms
from traitflow.worker.backfill import Backfiller
from traitflow.worker.batch import Outbox
from traitflow.worker.metrics import WorkerMetrics, reason_kind
from traitflow.worker.sinks import OutRecord, Sinks
from traitflow.worker.state import IdentityTables, ProfileStore
from traitflow.worker.timers import Ticker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record (or a bundle's line ``index``) came from, for dead-letter headers,
    fallback event time and the profile's applied position."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    index: int = 0

    @property
    def position(self) -> int:
        return position(self.offset, self.index)

    def __str__(self) -> str:
        line = f"#{self.index}" if self.index else ""
        return f"{self.topic}/{self.partition}/{self.offset}{line}"


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
        self.outbox = Outbox(sinks)
        self.resolver = Resolver(IdentityTables(store), registry, identity_rules(settings))
        self.processed: dict[int, int] = {}  # partition -> last offset handled (for lag)
        self.partitions: Callable[[], int] = lambda: settings.partitions  # events topic

    async def handle(
        self, key: bytes | None, raw: bytes, origin: Origin, headers: Any = None
    ) -> int:
        """Process one record; return how many messages it carried. Bad input and failures
        to decide go to the dead-letter topic.

        Failing to *publish* is not the input's fault: it propagates, the worker stops
        without committing, and the record is processed again after restart.
        """
        self.processed[origin.partition] = origin.offset
        self.store.writing_for(origin.partition)
        kind = command_kind(headers)
        if kind is not None:
            await self._command(kind, key, raw, origin)
            return 0
        if bundle_size(headers) is None:
            await self._message(key, raw, origin, forwarded_kind(headers))
            return 1
        lines = unbundle(raw)
        if len(lines) > LINES_PER_POSITION:
            reason = f"invalid bundle: {len(lines)} lines, at most {LINES_PER_POSITION}"
            await self._dead_letter(key, raw, reason, origin)
            return 0
        for index, line in enumerate(lines):
            await self._message(None, line, replace(origin, index=index), None)
        return len(lines)

    async def _message(
        self, key: bytes | None, raw: bytes, origin: Origin, forwarded: str | None
    ) -> None:
        """One message; ``key`` None for a bundle's line: its own routing id, if this is
        its partition (a record of its own is forwarded there otherwise)."""
        now = self.clock.now_ms()
        try:
            message = parse_message(
                raw,
                max_bytes=self.settings.max_message_bytes,
                fallback_timestamp_ms=origin.timestamp_ms,
                latest_ms=now + int(self.settings.future_tolerance_s * 1000),
            )
            if key is None:
                key = self._bundled_key(message, origin.partition)
            with self.metrics.evaluation.time():
                step = self.resolver.on_message(
                    _text(key), forwarded, message, now, origin.position
                )
        except InvalidMessage as exc:
            await self._dead_letter(key, raw, exc.reason, origin)
            return
        except Exception as exc:
            log.exception("cannot process %s", origin)
            await self._dead_letter(key, raw, f"internal error: {exc!r}", origin)
            return
        await self._carry_out(step, key, raw, origin)
        if step.forward is None and step.saves:
            self.metrics.messages.labels(message.type).inc()
            if step.events:
                stamp = message.timestamp_ms
                self.outbox.after_settling(lambda: self._observe_end_to_end(stamp))

    def _bundled_key(self, message: Message, partition: int) -> bytes | None:
        routing = routing_identifier(message, self.resolver.rules.junk)
        if routing is None:
            return None
        key = routing.value.encode()
        return key if partition_of(key, self.partitions()) == partition else None

    def _observe_end_to_end(self, timestamp_ms: int) -> None:
        self.metrics.end_to_end.observe(max(0, now_ms() - timestamp_ms) / 1000)

    async def _carry_out(self, step: Step, key: bytes | None, raw: bytes, origin: Origin) -> None:
        """Publish what ``step`` sends, then write the tables (held until the batch's sends
        are acknowledged)."""
        records: list[OutRecord] = []
        if step.forward is not None:
            records.append((step.forward.value.encode(), raw, forwarded_headers(step.forward)))
        for command in step.sends:
            command_key, command_name, value = encode(command)
            records.append((command_key, value, command_headers(command_name)))
        await self.outbox.send(self.sinks.events, records)
        await self.outbox.publish_transitions(origin.partition, step.events)
        for reason in step.refusals:
            if reason.startswith(CAP_REFUSAL):
                self.metrics.identity_refusals.inc()
            await self._dead_letter(key, raw, reason, origin)
        for identifier, pointer in step.pointers.items():
            self.store.point(identifier, pointer)
        for identifier in step.unpointed:
            self.store.unpoint(identifier)
        for profile, due in step.removals:
            self.store.remove(profile, due)
            self.sinks.removed(origin.partition, profile)
            self.metrics.identity_merges.inc()
        for profile, due in step.saves:
            self.store.save(profile.person.encode(), profile, due)

    async def _command(self, kind: str, key: bytes | None, raw: bytes, origin: Origin) -> None:
        try:
            if kind == "tick":
                await self.ticker.run_tick(TickCommand.from_bytes(raw), origin.partition)
            elif kind == "backfill":
                await self.backfiller.run_chunk(BackfillCommand.from_bytes(raw), origin.partition)
            elif kind in IDENTITY_COMMANDS:
                step = self._identity_step(decode(kind, raw))
                await self._carry_out(step, key, raw, origin)
            else:
                await self._dead_letter(key, raw, f"unknown command {kind!r}", origin)
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            await self._dead_letter(key, raw, f"invalid {kind} command: {exc!r}", origin)

    def _identity_step(self, command: Command) -> Step:
        if isinstance(command, Link):
            return self.resolver.on_link(command)
        if isinstance(command, MergeInto):
            return self.resolver.on_merge_into(command)
        if isinstance(command, Absorb):
            return self.resolver.on_absorb(command, self.clock.now_ms())
        return self.resolver.on_unclaim(command)

    async def _dead_letter(
        self, key: bytes | None, raw: bytes, reason: str, origin: Origin
    ) -> None:
        log.warning("dead-lettered %s: %s", origin, reason)
        self.metrics.dead_letters.labels(reason_kind(reason)).inc()
        headers = [
            ("traitflow-reason", reason.encode()),
            ("traitflow-source", str(origin).encode()),
        ]
        await self.outbox.send(self.sinks.deadletter, [(key, raw, headers)])


def _text(key: bytes | None) -> str | None:
    return key.decode(errors="replace") if key is not None else None
