"""What the worker does with one record of the events topic; Faust only feeds it.

Order matters for no loss: membership events are acknowledged by Kafka before the profile
that records them is written, so a crash can repeat an event (same id), never lose one.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from traitflow.config import Settings
from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import Message, parse_message
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.segments.backfill import BackfillCommand, is_command
from traitflow.worker.backfill import Backfiller
from traitflow.worker.pipeline import Outcome, process
from traitflow.worker.sinks import Sinks, deliver

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
        profiles: MutableMapping[bytes, bytes],
        sinks: Sinks,
        backfiller: Backfiller,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.profiles = profiles
        self.sinks = sinks
        self.backfiller = backfiller

    async def handle(
        self, key: bytes | None, raw: bytes, origin: Origin, headers: Any = None
    ) -> None:
        """Process one record; bad input and failures to decide go to the dead-letter topic.

        Failing to *publish* is not the input's fault: it propagates, the worker stops
        without committing, and the record is processed again after restart.
        """
        if is_command(headers):
            await self._command(key, raw, origin)
            return
        try:
            message = parse_message(
                raw,
                max_bytes=self.settings.max_message_bytes,
                fallback_timestamp_ms=origin.timestamp_ms,
            )
            person = message.person.encode()
            outcome = self._decide(message) if key == person else None
        except InvalidMessage as exc:
            await self._dead_letter(key, raw, exc.reason, origin)
            return
        except Exception as exc:
            log.exception("cannot process %s", origin)
            await self._dead_letter(key, raw, f"internal error: {exc!r}", origin)
            return
        if outcome is None:
            await deliver(self.sinks.events, [(person, raw, None)])  # re-key to its person
            return
        events = [(person, orjson.dumps(event), None) for event in outcome.events]
        await deliver(self.sinks.membership, events)
        self.profiles[person] = outcome.profile.to_bytes()

    async def _command(self, key: bytes | None, raw: bytes, origin: Origin) -> None:
        try:
            command = BackfillCommand.from_bytes(raw)
        except (orjson.JSONDecodeError, TypeError) as exc:
            await self._dead_letter(key, raw, f"invalid backfill command: {exc}", origin)
            return
        await self.backfiller.run_chunk(command, origin.partition)

    def _decide(self, message: Message) -> Outcome:
        stored = self.profiles.get(message.person.encode())
        profile = Profile.from_bytes(stored) if stored is not None else None
        return process(profile, message, self.registry, self.settings.unset_marker)

    async def _dead_letter(
        self, key: bytes | None, raw: bytes, reason: str, origin: Origin
    ) -> None:
        log.warning(
            "dead-lettered %s[%d]@%d: %s", origin.topic, origin.partition, origin.offset, reason
        )
        headers = [
            ("traitflow-reason", reason.encode()),
            ("traitflow-source", f"{origin.topic}/{origin.partition}/{origin.offset}".encode()),
        ]
        await deliver(self.sinks.deadletter, [(key, raw, headers)])
