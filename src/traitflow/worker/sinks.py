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


async def deliver(sink: Sink, records: Sequence[OutRecord], partition: int | None = None) -> None:
    """Send records and wait until the broker has acknowledged every one."""
    pending = [
        await sink.send(key=key, value=value, headers=headers, partition=partition)
        for key, value, headers in records
    ]
    for acknowledgement in pending:
        await acknowledgement


async def publish_transitions(
    sinks: Sinks, person: bytes, partition: int, events: list[Event]
) -> None:
    """One person's membership events, acknowledged by Kafka, then told to the observer
    (metrics, member counts) with the events partition that owns the person."""
    if not events:
        return
    await deliver(sinks.membership, [(person, orjson.dumps(event), None) for event in events])
    sinks.published(partition, events)
