"""Where the worker writes: Faust topics in production, Faust channels in agent tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

Headers = list[tuple[str, bytes]]
OutRecord = tuple[bytes | None, bytes, Headers | None]
Event = dict[str, Any]
Observer = Callable[[int, list[Event]], None]


def _nobody(partition: int, events: list[Event]) -> None:
    """Agent tests observe the membership channel itself."""


def _nothing(partition: int, profile: Any) -> None:
    """Agent tests keep no member counts."""


class Sink(Protocol):
    async def send(
        self,
        *,
        key: bytes | None = ...,
        value: bytes | None = ...,
        partition: int | None = ...,
        headers: Headers | None = ...,
    ) -> Awaitable[Any]: ...


class ProducerSink:
    """A topic written through the app's Kafka producer directly: one aiokafka send per
    record, without Faust's per-message bookkeeping (a sixth of the worker's time went
    there). Faust flushes this producer before it commits, as for its own sends."""

    def __init__(self, app: Any, topic: str) -> None:
        self.app = app
        self.topic = topic

    async def send(
        self,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> Awaitable[Any]:
        sent: Awaitable[Any] = await self.app.producer.send(
            self.topic, key, value, partition, None, headers
        )
        return sent


@dataclass(frozen=True, slots=True)
class Sinks:
    events: Sink
    membership: Sink
    deadletter: Sink
    status: Sink
    audit: Sink
    suppressions: Sink
    published: Observer = _nobody  # told of every transition once Kafka has it
    removed: Callable[[int, Any], None] = _nothing  # a profile merged away from a partition


async def send_and_wait(
    sink: Sink, records: Sequence[OutRecord], partition: int | None = None
) -> None:
    """Send records and wait until the broker has acknowledged every one."""
    pending = [
        await sink.send(key=key, value=value, headers=headers, partition=partition)
        for key, value, headers in records
    ]
    for acknowledgement in pending:
        await acknowledgement


def membership_records(events: list[Event]) -> list[OutRecord]:
    """Membership events as records keyed by their person."""
    return [(str(event["person"]).encode(), orjson.dumps(event), None) for event in events]
