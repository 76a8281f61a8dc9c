"""Reading a CSV file as a stream of records, each with its line number and original text.

Works on bytes so that one line of invalid UTF-8 rejects that row only; a quoted field
may span lines. Memory stays bounded by the longest record, whatever the file size.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    text: str
    cells: list[str] | None  # None when malformed
    error: str | None = None
    size: int = 0  # bytes read from the file, for progress


def records(stream: BinaryIO) -> Iterator[Record]:
    """Every record of the file, the header included, in order."""
    pending: list[bytes] = []
    first_line = 0
    for number, raw in enumerate(stream, start=1):
        if not pending:
            first_line = number
        pending.append(raw)
        joined = b"".join(pending)
        if joined.count(b'"') % 2 and len(joined) < MAX_RECORD_BYTES:
            continue  # a quoted field goes on to the next line
        pending = []
        yield _parse(first_line, joined)
    if pending:
        yield _parse(first_line, b"".join(pending), "unterminated quoted field")


def _parse(line: int, raw: bytes, error: str | None = None) -> Record:
    return replace(_decode(line, raw, error), size=len(raw))


def _decode(line: int, raw: bytes, error: str | None) -> Record:
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff" if line == 1 else "")
    except UnicodeDecodeError as exc:
        return Record(
            line,
            raw.decode("utf-8", "replace").rstrip("\r\n"),
            None,
            f"invalid UTF-8 at byte {exc.start}",
        )
    text = text.rstrip("\r\n")
    if error is not None:
        return Record(line, text, None, error)
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        return Record(line, text, None, f"bad quoting: {exc}")
    return Record(line, text, rows[0] if rows else [])


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, read in chunks: the import's identity."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
