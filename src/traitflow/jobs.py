"""Jobs: records on the events topic that ask its partition's worker for work, not
messages: how ``segments apply`` asks every worker to backfill or replay history, how a
worker's timer asks its own partitions to process due instants or sweep expired profiles;
and the progress records of the status topic.

Jobs and identity changes (``traitflow.identity.resolver``) carry a kind header, so no
Segment-spec message can be mistaken for one. Its wire name, ``traitflow-command``, is
older than these words and kept: records already in topics must still be read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Self, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from traitflow.ingest.records import KIND_HEADER

T = TypeVar("T")

JOB_KEY = b"\x00traitflow-command"
# They scan tables or read the log: a batch closes first.
SCANNING_JOBS = ("tick", "backfill", "sweep", "replay")


class Encoded:
    """A job record's value: the dataclass as JSON, and back (``ValueError`` naming
    what is wrong, from ``load_record``)."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        return orjson.dumps(self)  # orjson writes dataclasses itself

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return load_record(cls, raw)


@dataclass(frozen=True, slots=True)
class BackfillJob(Encoded):
    """Re-evaluate profiles of ``partition`` whose key sorts after ``after`` (also the
    segments reading ``features``, when a replay of history completes)."""

    version: int
    partition: int
    after: str | None = None
    done: int = 0
    features: tuple[str, ...] = ()
    replay: str = ""  # the replay whose completion asked (its marks are dropped)

    def next(self, last_key: bytes, evaluated: int) -> BackfillJob:
        return replace(self, after=last_key.decode(), done=self.done + evaluated)


@dataclass(frozen=True, slots=True)
class ReplayJob(Encoded):
    """Count ``features`` (of definitions version ``version``) from the events in
    ``partition`` since ``from_ms``. The first one is the barrier: live messages after it
    count; the log before it is read a chunk at a time from ``next`` to ``end``."""

    version: int
    partition: int
    id: str
    features: tuple[str, ...]
    from_ms: int
    next: int | None = None
    end: int | None = None
    read: int = 0
    started_ms: int = 0


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One message of history for the profile of ``person``: ``holder`` is the id it was
    applied to, ``position`` its place in partition ``source`` (for idempotence)."""

    person: str
    holder: str
    source: int
    position: int
    type: str
    timestamp_ms: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplayApply(Encoded):
    """Messages of history to count into the profiles of one partition."""

    id: str
    items: tuple[ReplayItem, ...]


@dataclass(frozen=True, slots=True)
class ReplayDone(Encoded):
    """Partition ``source`` has sent every message of history it holds for ``version``."""

    id: str
    source: int


@dataclass(frozen=True, slots=True)
class TickJob(Encoded):
    """Process the partition's profiles due by ``until_ms``, in due order."""

    until_ms: int


@dataclass(frozen=True, slots=True)
class SweepJob(Encoded):
    """Delete the profiles of ``partition`` last seen before ``cutoff_ms`` (retention),
    from the key after ``after`` on, a chunk at a time."""

    partition: int
    cutoff_ms: int
    after: str | None = None


def load_record(kind: type[T], raw: bytes) -> T:
    """A job record's value as ``kind``; ``ValueError`` names what is wrong (a field
    missing or of the wrong type), so a bad record is dead-lettered, never half-run."""
    try:
        found: T = _adapter(kind).validate_json(raw)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'value'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ValueError(problems) from None
    return found


@cache
def _adapter(kind: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def kind_headers(kind: str = "backfill") -> list[tuple[str, bytes]]:
    return [(KIND_HEADER, kind.encode())]


def status_record(job: BackfillJob, evaluated: int, finished: bool) -> tuple[bytes, bytes]:
    """A ``segments status`` line for one partition, keyed so compaction keeps the latest."""
    value = {
        "version": job.version,
        "partition": job.partition,
        "profiles": job.done + evaluated,
        "finished": finished,
    }
    return f"backfill/{job.partition}".encode(), orjson.dumps(value)
