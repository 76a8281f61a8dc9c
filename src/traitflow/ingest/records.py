"""One way in for a record of the events topic: its headers and value read once, totally.

Every record the worker takes from the events topic (live, or read back by a replay of
history) is read here and nowhere else. Reading never raises: a record whose headers or
value cannot be read becomes ``Unreadable`` with the reason, which the live path
dead-letters with the original bytes, and a replay skips (it was dead-lettered when it
came in). Kafka lets a producer write anything: header values that are null, not
numbers, or thousands of digits; keys and values of any bytes.

A record is one of:
- a job or an identity change (``Command``): it carries the kind header;
- one message, or a bundle of them (``Messages``), each line with its routing key
  (``None`` for a bundle's line: it is routed by its own ids) and, for a record
  forwarded by another partition's worker, the kind its key was recorded with.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

BUNDLE_HEADER = "traitflow-bundle"
KIND_HEADER = "traitflow-command"  # jobs and identity changes (see ``traitflow.jobs``)
FORWARDED_HEADER = "traitflow-forwarded"  # the kind of a forwarded message's key
FORWARDED_KINDS = frozenset({"user", "anonymous", "trait"})
LINES_PER_POSITION = 1 << 16  # a bundle with more lines cannot be applied: see ``position``
MAX_KIND_CHARS = 64  # longer kind headers name no kind: they are refused unread


@dataclass(frozen=True, slots=True)
class Line:
    """One message of a record: ``key`` None for a bundle's line."""

    key: bytes | None
    forwarded: str | None
    raw: bytes
    index: int = 0


@dataclass(frozen=True, slots=True)
class Messages:
    lines: list[Line]


@dataclass(frozen=True, slots=True)
class Command:
    kind: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Unreadable:
    reason: str
    kind: str  # the dead-letter kind


EventsRecord = Messages | Command | Unreadable


@dataclass(frozen=True, slots=True)
class Headers:
    """The three headers traitflow reads, each None when absent."""

    kind: bytes | None = None
    bundle: bytes | None = None
    forwarded: bytes | None = None


NO_HEADERS = Headers()


def header_pairs(headers: Any) -> Iterator[tuple[str, bytes]]:
    """(name, value) of aiokafka's list of pairs or Faust's mapping, totally: a pair that
    is not (name, value) is passed over, a null value reads as empty."""
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers or ()
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            continue
        name, value = pair
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        if isinstance(name, str):
            yield name, bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""


def header_text(headers: Any, name: str) -> str:
    """The first header ``name`` as text ("" when absent or null)."""
    return next((v.decode(errors="replace") for n, v in header_pairs(headers) if n == name), "")


def read_headers(headers: Any) -> Headers:
    """The headers traitflow reads (the first of each name)."""
    if not headers:
        return NO_HEADERS
    found: dict[str, bytes] = {}
    for name, value in header_pairs(headers):
        if name in (KIND_HEADER, BUNDLE_HEADER, FORWARDED_HEADER) and name not in found:
            found[name] = value
    if not found:
        return NO_HEADERS
    return Headers(found.get(KIND_HEADER), found.get(BUNDLE_HEADER), found.get(FORWARDED_HEADER))


def record_kind(headers: Any) -> str | None:
    """The kind of a job or identity change (``tick``, ``link``...); None for a message."""
    kind = read_headers(headers).kind
    return None if kind is None else kind[:MAX_KIND_CHARS].decode(errors="replace")


def is_bundle(headers: Any) -> bool:
    return read_headers(headers).bundle is not None


def read_events_record(key: bytes | None, value: bytes | None, headers: Any) -> EventsRecord:
    """What a record of the events topic carries; never raises."""
    try:
        return _read(key, value, read_headers(headers))
    except Exception as exc:  # a guard for what the checks below did not foresee
        return Unreadable(f"unreadable record: {exc!r}"[:500], "invalid_record")


def _read(key: bytes | None, value: bytes | None, headers: Headers) -> EventsRecord:
    if value is None:
        return Unreadable("a record without a value (a tombstone): nothing to process",
                          "empty_record")  # fmt: skip
    if headers.kind is not None:
        if len(headers.kind) > MAX_KIND_CHARS:
            return Unreadable(f"unknown record kind: a header of {len(headers.kind)} bytes",
                              "unknown_record_kind")  # fmt: skip
        return Command(headers.kind.decode(errors="replace"), value)
    if headers.bundle is None:
        forwarded = None
        if headers.forwarded is not None:
            forwarded = headers.forwarded.decode(errors="replace")
            if forwarded not in FORWARDED_KINDS or key is None:
                reason = f"invalid {FORWARDED_HEADER} header {forwarded[:40]!r}" + (
                    "" if key is not None else " on a record without a key"
                )
                return Unreadable(reason, "invalid_record")
        return Messages([Line(key, forwarded, value)])
    lines = value.split(b"\n")
    if len(lines) > LINES_PER_POSITION:
        reason = f"invalid bundle: {len(lines)} lines, at most {LINES_PER_POSITION}"
        return Unreadable(reason, "invalid_bundle")
    return Messages([Line(None, None, line, index) for index, line in enumerate(lines)])
