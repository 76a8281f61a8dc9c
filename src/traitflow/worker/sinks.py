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


@dataclass(frozen=True, slots=True)
class Sinks:
    events: Sink
    membership: Sink
    deadletter: Sink
    status: Sink
    published: Observer = _nobody  # told of every transition once Kafka has it
    removed: Callable[[int, Any], None] = _nothing  # a profile merged away from a partition


async def deliver(sink: Sink, records: Sequence[OutRecord], partition: int | None = None) -> None:
    """Send records and wait until the broker has acknowledged every one."""
    pending = [
        await sink.send(key=key, value=value, headers=headers, partition=partition)
        for key, value, headers in records
    ]
    for acknowledgement in pending:
        await acknowledgement


async def publish_transitions(sinks: Sinks, partition: int, events: list[Event]) -> None:
    """Membership events, keyed by their person, acknowledged by Kafka, then told to the
    observer (metrics, member counts) with the events partition that decided them."""
    if not events:
        return
    records = [(str(event["person"]).encode(), orjson.dumps(event), None) for event in events]
    await deliver(sinks.membership, records)
    sinks.published(partition, events)
