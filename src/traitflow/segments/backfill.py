"""Backfill commands and progress records: how ``segments apply`` asks every worker to
re-decide stored profiles, and how workers report it (run by ``traitflow.worker.backfill``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import orjson

COMMAND_HEADER = "traitflow-command"
COMMAND_KEY = b"\x00traitflow-backfill"


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


def command_headers() -> list[tuple[str, bytes]]:
    return [(COMMAND_HEADER, b"backfill")]


def is_command(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> bool:
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return any(name == COMMAND_HEADER for name, _ in pairs)


def status_record(command: BackfillCommand, evaluated: int, finished: bool) -> tuple[bytes, bytes]:
    """A ``segments status`` line for one partition, keyed so compaction keeps the latest."""
    value = {
        "version": command.version,
        "partition": command.partition,
        "profiles": command.done + evaluated,
        "finished": finished,
    }
    return f"backfill/{command.partition}".encode(), orjson.dumps(value)
