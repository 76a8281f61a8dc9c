"""What the worker does with one record of the events topic; Faust only feeds it.

Order matters for no loss: membership events are acknowledged by Kafka before the profile
that records them is written, so a crash can repeat an event (same id), never lose one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from traitflow.config import Settings
from traitflow.exceptions import InvalidMessage
from traitflow.ingest.messages import Message, parse_message
from traitflow.profiles import Profile
from traitflow.segments import Registry
from traitflow.worker.pipeline import Outcome, process

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
OutRecord = tuple[bytes | None, bytes, Headers | None]


class Sink(Protocol):
    """A Faust topic in production, a Faust channel in agent tests."""

    async def send(
        self, *, key: bytes | None = ..., value: bytes | None = ..., headers: Headers | None = ...
    ) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class Sinks:
    events: Sink
    membership: Sink
    deadletter: Sink


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
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.profiles = profiles
        self.sinks = sinks

    async def handle(self, key: bytes | None, raw: bytes, origin: Origin) -> None:
        """Process one record; bad input and failures to decide go to the dead-letter topic.

        Failing to *publish* is not the input's fault: it propagates, the worker stops
        without committing, and the record is processed again after restart.
        """
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
            await _deliver(self.sinks.events, [(person, raw, None)])  # re-key to its person
            return
        events = [(person, orjson.dumps(event), None) for event in outcome.events]
        await _deliver(self.sinks.membership, events)
        self.profiles[person] = outcome.profile.to_bytes()

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
        await _deliver(self.sinks.deadletter, [(key, raw, headers)])


async def _deliver(sink: Sink, records: Sequence[OutRecord]) -> None:
    """Send records and wait until the broker has acknowledged every one."""
    pending = [
        await sink.send(key=key, value=value, headers=headers) for key, value, headers in records
    ]
    for acknowledgement in pending:
        await acknowledgement
