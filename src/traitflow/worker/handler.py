"""What the worker does with one record of the events topic; Faust only feeds it.

Order matters for no loss: membership events are acknowledged by Kafka before the profile
that records them is written, so a crash can repeat an event (same id), never lose one.
Records are handled in batches (``traitflow.worker.batch``): sends go to ``outbox`` and
table writes are held until the batch closes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiokafka.errors import KafkaError

from traitflow.broker.partitioner import partition_of
from traitflow.clock import Clock
from traitflow.config import Settings
from traitflow.exceptions import InvalidMessage
from traitflow.identity.ids import routing_identifier
from traitflow.identity.resolver import (
    CAP_REFUSAL,
    IDENTITY_CHANGES,
    Absorb,
    Delete,
    Deletion,
    Forget,
    IdentityChange,
    Link,
    MergeInto,
    Resolver,
    Step,
    decode,
    encode,
    forwarded_headers,
    identity_rules,
)
from traitflow.ingest.bundles import position
from traitflow.ingest.messages import Limits, Message, parse_message
from traitflow.ingest.records import Command, Unreadable, read_events_record
from traitflow.jobs import (
    BackfillJob,
    SweepJob,
    TickJob,
    kind_headers,
)
from traitflow.privacy.audit import audit_record
from traitflow.privacy.suppressions import Suppressions, suppression_record
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.timeutil import now_ms
from traitflow.worker.backfill import Backfiller
from traitflow.worker.batch import Outbox
from traitflow.worker.metrics import WorkerMetrics
from traitflow.worker.replay import KINDS as REPLAY_KINDS
from traitflow.worker.replay import EventLog, Replayer
from traitflow.worker.retention import CHUNK as SWEEP_CHUNK
from traitflow.worker.retention import sweep_record
from traitflow.worker.sinks import OutRecord
from traitflow.worker.store.profiles import IdentityTables, ProfileStore
from traitflow.worker.store.rocksdb import is_storage_fault
from traitflow.worker.timers import Ticker

log = logging.getLogger(__name__)
MAX_REASON = 2000  # characters of a dead-letter reason
MAX_KEY = 1024  # bytes of a dead-lettered record's key


@dataclass(slots=True)
class Plan:
    """A step made ready to carry out: its records and profiles encoded, within limits."""

    step: Step
    records: list[OutRecord]
    saves: list[tuple[Profile, int | None, bytes]]  # profile, due before, encoded


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
        outbox: Outbox,
        clock: Clock,
        backfiller: Backfiller,
        metrics: WorkerMetrics,
        suppressions: Suppressions | None = None,
        event_log: EventLog | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.outbox = outbox
        self.sinks = outbox.sinks
        self.clock = clock
        self.backfiller = backfiller
        self.ticker = Ticker(registry, store, outbox)
        self.metrics = metrics
        self.suppressions = (
            suppressions if suppressions is not None else Suppressions(settings.identity_traits)
        )
        self.resolver = Resolver(IdentityTables(store), registry, identity_rules(settings))
        self.limits = Limits.of(settings)
        self.processed: dict[int, int] = {}  # partition -> last offset handled (for lag)
        self.storage_fault: str | None = None  # RocksDB said its data is corrupt
        self.partitions: Callable[[], int] = lambda: settings.partitions  # events topic
        self.replayer = Replayer(
            registry, store, self.resolver, outbox, event_log, clock,
            lambda: self.partitions(), backfiller.definitions_loaded, self.suppressions,
            self.limits, settings.replay_chunk_records,
        )  # fmt: skip

    async def handle(
        self, key: bytes | None, raw: bytes | None, origin: Origin, headers: Any = None
    ) -> int:
        """Process one record; return how many messages it carried. Bad input and failures
        to decide go to the dead-letter topic.

        Failing to *publish* is not the input's fault: it propagates, the worker stops
        without committing, and the record is processed again after restart.
        """
        self.processed[origin.partition] = origin.offset
        self.store.writing_for(origin.partition)
        self.registry.paused = self.replayer.states.paused(self.registry, origin.partition)
        record = read_events_record(key, raw, headers)
        if isinstance(record, Unreadable):
            await self._dead_letter(key, raw or b"", record.reason, origin, record.kind)
            return 0
        if isinstance(record, Command):
            await self._job_or_change(record.kind, key, record.raw, origin)
            return 0
        for line in record.lines:
            await self._message(line.key, line.raw, replace(origin, index=line.index),
                                line.forwarded)  # fmt: skip
        return len(record.lines)

    async def _message(
        self, key: bytes | None, raw: bytes, origin: Origin, forwarded: str | None
    ) -> None:
        """One message; ``key`` None for a bundle's line: its own routing id, if this is
        its partition (a record of its own is forwarded there otherwise). Everything that
        can fail on this input fails before the first send: a bad message is dead-lettered
        whole, and the profile is left as it was."""
        now = self.clock.now_ms()
        try:
            message = parse_message(
                raw,
                max_bytes=self.settings.max_message_bytes,
                fallback_timestamp_ms=origin.timestamp_ms,
                latest_ms=now + int(self.settings.future_tolerance_s * 1000),
                limits=self.limits,
            )
            if key is None:
                key = self._bundled_key(message, origin.partition)
            if self.suppressions.covers_message(message.body):
                self.metrics.suppressed.inc()
                return
            with self.metrics.evaluation.time():
                step = self.resolver.on_message(
                    _text(key), forwarded, message, now, origin.position
                )
            plan = self._plan(step, raw)
        except Exception as exc:
            await self._refuse(key, raw, exc, origin)
            return
        if step.duplicate:
            self.metrics.duplicates.inc()
            return
        await self._carry_out(plan, key, raw, origin)
        if step.forward is None and step.saves:
            self.metrics.counted(message.type)
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

    def _plan(self, step: Step, raw: bytes) -> Plan:
        """Encode what ``step`` sends and saves, within the limits, before anything is sent."""
        records: list[OutRecord] = []
        if step.forward is not None:
            records.append((step.forward.value.encode(), raw, forwarded_headers(step.forward)))
        for change in step.sends:
            change_key, change_kind, value = encode(change)
            records.append((change_key, value, kind_headers(change_kind)))
        saves = [(profile, due, self._encoded(profile)) for profile, due in step.saves]
        return Plan(step, records, saves)

    def _encoded(self, profile: Profile) -> bytes:
        encoded = profile.to_bytes()
        limit = self.settings.max_profile_bytes
        if len(encoded) > limit:
            raise InvalidMessage(
                f"profile too large: it would take {len(encoded)} bytes, the limit is {limit} "
                "(max_profile_bytes); not applied, the profile is left as it was",
                "profile_too_large",
            )
        return encoded

    async def _carry_out(self, plan: Plan, key: bytes | None, raw: bytes, origin: Origin) -> None:
        """Publish what the step sends, then write the tables (held until the batch's sends
        are acknowledged). Only a send Kafka refuses can fail here: it stops the worker."""
        step = plan.step
        await self.outbox.send(self.sinks.events, plan.records)
        await self.outbox.publish_transitions(origin.partition, step.events)
        for refusal in step.refusals:
            if refusal.kind == CAP_REFUSAL:
                self.metrics.identity_refusals.inc()
            await self._dead_letter(key, raw, refusal.reason, origin, refusal.kind)
        for identifier, pointer in step.pointers.items():
            self.store.point(identifier, replace(pointer, since=origin.position))
        for identifier in step.unpointed:
            self.store.unpoint(identifier)
        for identifier in step.erased:
            self.store.erase_history(identifier, origin.position)
        for profile, due in step.removals:
            self.store.remove(profile, due)
            self.sinks.removed(origin.partition, profile)
            self.metrics.identity_merges.inc()
        for profile, due, encoded in plan.saves:
            self.store.save(profile.person.encode(), profile, due, encoded)
        if step.deletion is not None:
            await self._deleted(step.deletion)

    async def _deleted(self, deletion: Deletion) -> None:
        """Remove the deleted profile, suppress its ids if asked, and record the audit
        (with the membership exits, sent before the profile's removal is written)."""
        request, now = deletion.request, self.clock.now_ms()
        if deletion.profile is not None:
            self.store.remove(deletion.profile, deletion.due)
        if request.cause == "expired":
            self.metrics.profiles_expired.inc()
            return  # retention, not a request: no audit record
        if deletion.profile is not None:
            self.metrics.people_deleted.inc()
        if request.suppress:
            self.suppressions.add(deletion.ids, request.request)
            records = [(*suppression_record(i, request.request, now), None) for i in deletion.ids]
            await self.outbox.send(self.sinks.suppressions, records)
        audit = audit_record(deletion, now)
        await self.outbox.send(self.sinks.audit, [(request.request.encode(), audit, None)])

    async def _job_or_change(
        self, kind: str, key: bytes | None, raw: bytes, origin: Origin
    ) -> None:
        """A record with a kind header: a job or an identity change. One that cannot be read
        or decided is dead-lettered; a send that Kafka refuses (a ``KafkaError``) stops the
        worker, as for messages."""
        try:
            if kind == "tick":
                await self.ticker.run_tick(TickJob.from_bytes(raw), origin.partition)
            elif kind == "backfill":
                await self.backfiller.run_chunk(BackfillJob.from_bytes(raw), origin.partition)
            elif kind in REPLAY_KINDS:
                await self.replayer.run(kind, raw, origin.partition, origin.offset)
            elif kind == "sweep":
                await self._sweep(SweepJob.from_bytes(raw), origin)
            elif kind in IDENTITY_CHANGES:
                plan = self._plan(self._identity_step(decode(kind, raw)), raw)
                await self._carry_out(plan, key, raw, origin)
            else:
                reason = f"unknown record kind {kind!r}"
                await self._dead_letter(key, raw, reason, origin, "unknown_record_kind")
        except KafkaError:
            raise
        except Exception as exc:
            await self._refuse(key, raw, exc, origin, f"invalid {kind} record: ")

    async def _sweep(self, job: SweepJob, origin: Origin) -> None:
        """Retention (``traitflow.worker.retention``): delete this chunk's profiles last
        seen before the cutoff, as a deletion request would, then ask for the next chunk."""
        after = job.after.encode() if job.after is not None else None
        keys = self.store.profile_keys(origin.partition, after, SWEEP_CHUNK)
        for key in keys:
            request = self._expiry(key, job.cutoff_ms)
            if request is not None:
                step = self.resolver.on_delete(request, request.requested_at_ms)
                await self._carry_out(self._plan(step, b""), None, b"", origin)
        if len(keys) == SWEEP_CHUNK:  # the next chunk, after live messages
            follow = sweep_record(replace(job, after=keys[-1].decode()))
            await self.outbox.send(self.sinks.events, [follow], partition=job.partition)

    def _expiry(self, key: bytes, cutoff_ms: int) -> Delete | None:
        """The deletion of an expired profile; None if it is not (or cannot be read)."""
        try:
            profile = self.store.load(key)
        except Exception:  # the log names no person: the key is personal data
            log.exception("retention skipped an unreadable profile (%d-byte key)", len(key))
            return None
        if profile is None or profile.last_seen_ms >= cutoff_ms:
            return None
        now = self.clock.now_ms()
        return Delete(profile.person, f"expired-{cutoff_ms}", "retention", now, cause="expired")

    def _identity_step(self, change: IdentityChange) -> Step:
        if isinstance(change, Link):
            return self.resolver.on_link(change)
        if isinstance(change, MergeInto):
            return self.resolver.on_merge_into(change)
        if isinstance(change, Absorb):
            return self.resolver.on_absorb(change, self.clock.now_ms())
        if isinstance(change, Delete):
            return self.resolver.on_delete(change, self.clock.now_ms())
        if isinstance(change, Forget):
            return self.resolver.on_forget(change)
        return self.resolver.on_unclaim(change)

    async def _refuse(
        self, key: bytes | None, raw: bytes, exc: Exception, origin: Origin, prefix: str = ""
    ) -> None:
        """Dead-letter a record this worker cannot decide: bad input says why; anything
        else is an internal error, logged with its traceback."""
        if isinstance(exc, InvalidMessage):
            reason, kind = exc.reason, exc.kind
        elif isinstance(exc, ValueError) and prefix:
            reason, kind = f"{prefix}{exc}", "invalid_record"
        elif is_storage_fault(exc):
            if self.storage_fault is None:
                log.critical("RocksDB reports a fault on events partition %d: %s; this worker "
                             "is not ready until its state is rebuilt (docs/operating.md)",
                             origin.partition, exc)  # fmt: skip
            self.storage_fault = f"partition {origin.partition}: {exc}"[:500]
            reason, kind = f"{prefix}storage fault: {exc}", "storage_fault"
        else:
            log.error("cannot process %s", origin, exc_info=exc)
            reason, kind = f"{prefix}internal error: {exc!r}", "internal_error"
        await self._dead_letter(key, raw, reason, origin, kind)

    async def _dead_letter(
        self, key: bytes | None, raw: bytes, reason: str, origin: Origin, kind: str
    ) -> None:
        log.warning("dead-lettered %s: %s", origin, reason[:200])
        self.metrics.dead_letters.labels(kind).inc()
        record = dead_letter_record(key, raw, reason, origin, self.settings.deadletter_max_bytes)
        await self.outbox.send(self.sinks.deadletter, [record])


def dead_letter_record(
    key: bytes | None, raw: bytes, reason: str, origin: Origin, max_bytes: int
) -> OutRecord:
    """The original bytes with the reason and source; a copy too large for Kafka is cut to
    ``max_bytes``, its headers keeping the original size and SHA-256, so the dead-letter
    topic never refuses what it is given."""
    headers = [
        ("traitflow-reason", reason[:MAX_REASON].encode(errors="replace")),
        ("traitflow-source", str(origin).encode()),
    ]
    if len(raw) > max_bytes:
        headers += [
            ("traitflow-original-bytes", str(len(raw)).encode()),
            ("traitflow-original-sha256", hashlib.sha256(raw).hexdigest().encode()),
        ]
        raw = raw[:max_bytes]
    if key is not None and len(key) > MAX_KEY:
        headers.append(("traitflow-original-key-sha256", hashlib.sha256(key).hexdigest().encode()))
        key = key[:MAX_KEY]
    return key, raw, headers


def _text(key: bytes | None) -> str | None:
    return key.decode(errors="replace") if key is not None else None
