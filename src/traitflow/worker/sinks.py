"""Where the worker writes: Faust topics in production, Faust channels in agent tests."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Headers = list[tuple[str, bytes]]
OutRecord = tuple[bytes | None, bytes, Headers | None]


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


async def deliver(sink: Sink, records: Sequence[OutRecord], partition: int | None = None) -> None:
    """Send records and wait until the broker has acknowledged every one."""
    pending = [
        await sink.send(key=key, value=value, headers=headers, partition=partition)
        for key, value, headers in records
    ]
    for acknowledgement in pending:
        await acknowledgement
