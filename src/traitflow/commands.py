"""Control records on the events topic: how ``segments apply`` asks every worker to
backfill, how a worker's timer asks its own partitions to process due instants, and the
progress records of the status topic. They carry a ``traitflow-command`` header, so no
Segment-spec message can be mistaken for one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import orjson

COMMAND_HEADER = "traitflow-command"
COMMAND_KEY = b"\x00traitflow-command"
SCANNING_COMMANDS = ("tick", "backfill")  # they scan tables: a batch closes before them


@dataclass(frozen=True, slots=True)
class BackfillCommand:
    """Re-evaluate profiles of ``partition`` whose key sorts after ``after``."""

    version: int
    partition: int
    after: str | None = None
    done: int = 0

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> BackfillCommand:
        return cls(**orjson.loads(raw))

    def next(self, last_key: bytes, evaluated: int) -> BackfillCommand:
        return BackfillCommand(
            self.version, self.partition, last_key.decode(), self.done + evaluated
        )


@dataclass(frozen=True, slots=True)
class TickCommand:
    """Process the partition's profiles due by ``until_ms``, in due order."""

    until_ms: int

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> TickCommand:
        return cls(**orjson.loads(raw))


def command_headers(kind: str = "backfill") -> list[tuple[str, bytes]]:
    return [(COMMAND_HEADER, kind.encode())]


def command_kind(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> str | None:
    """``backfill`` or ``tick`` for a control record, None for a message."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name == COMMAND_HEADER:
            return bytes(value).decode(errors="replace")
    return None


def status_record(command: BackfillCommand, evaluated: int, finished: bool) -> tuple[bytes, bytes]:
    """A ``segments status`` line for one partition, keyed so compaction keeps the latest."""
    value = {
        "version": command.version,
        "partition": command.partition,
        "profiles": command.done + evaluated,
        "finished": finished,
    }
    return f"backfill/{command.partition}".encode(), orjson.dumps(value)
