"""Reading a CSV file as a stream of records, each with its line number and original text.

Works on bytes so that one line of invalid UTF-8 rejects that row only; a quoted field
may span lines. Memory stays bounded by the longest record, whatever the file size.
"""

from __future__ import annotations

import csv
import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from traitflow.importer.rows import RowError

MAX_RECORD_BYTES = 1024 * 1024
MAX_RECORD_LINES = 50  # a quoted field spanning more lines is taken for a stray quote
MAX_FILE_BYTES = 16 * 1024**3  # what one file may hold, decompressed
KEPT_OF_LONG_LINE = 200  # bytes of an over-long line kept for the error report
READ_CHUNK = 256 * 1024
Line = tuple[int, bytes]  # number, raw bytes
LONG_LINE = "a line longer than 1 MiB (MAX_RECORD_BYTES): rejected unread"


class FileTooLarge(RowError):
    """The file holds more than ``MAX_FILE_BYTES`` (a small .gz can expand to any size)."""


def bounded_lines(stream: BinaryIO, max_file_bytes: int = MAX_FILE_BYTES) -> Iterator[Line]:
    """The file's lines, numbered, read a chunk at a time (any object with ``read(n)``:
    files, fsspec's remote files, gzip). A line longer than ``MAX_RECORD_BYTES`` is read
    through and given as its first ``KEPT_OF_LONG_LINE`` bytes with ``LONG_LINE`` appended:
    one 400 MB line once took 3.6 GB of memory."""
    number, total = 0, 0
    pending: list[bytes] = []  # the current line's pieces, while it is within bounds
    held = 0  # their size
    too_long: bytes | None = None  # the kept start of an over-long line being read through
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        _refuse_past(total, max_file_bytes)
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start : end + 1]
            if too_long is None:
                pending.append(piece)
                held += len(piece)
                if held > MAX_RECORD_BYTES:
                    too_long = b"".join(pending)[:KEPT_OF_LONG_LINE]
                    pending, held = [], 0
            if end < 0:
                break
            number += 1
            if too_long is not None:
                yield number, too_long + b"\x00" + LONG_LINE.encode()
                too_long = None
            else:
                yield number, b"".join(pending)
            pending, held = [], 0
            start = end + 1
    if too_long is not None:
        yield number + 1, too_long + b"\x00" + LONG_LINE.encode()
    elif held:
        yield number + 1, b"".join(pending)


def _refuse_past(total: int, max_file_bytes: int) -> None:
    if total > max_file_bytes:
        raise FileTooLarge(
            f"the file holds more than {max_file_bytes:,} bytes (decompressed): split it"
        )


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    text: str
    cells: list[str] | None  # None when malformed
    error: str | None = None
    size: int = 0  # bytes read from the file, for progress


def records(stream: BinaryIO, max_file_bytes: int = MAX_FILE_BYTES) -> Iterator[Record]:
    """Every record of the file, the header included, in order, in linear time.

    A quoted field may span lines, up to ``MAX_RECORD_LINES`` lines and
    ``MAX_RECORD_BYTES``. A quote still open past either, or at the end of the file, is a
    stray quote: the line that opened it is rejected alone, and reading starts again on
    the line after it, so one bad line never swallows the rest of the file.
    """
    fresh: Iterator[Line] = bounded_lines(stream, max_file_bytes)
    again: deque[Line] = deque()  # lines to read again after a rejected one
    pending: list[Line] = []
    quote_open, size = False, 0
    while True:
        line = again.popleft() if again else next(fresh, None)
        if line is None and not pending:
            return
        if line is not None and not pending and b'"' not in line[1]:
            yield _parse(*line)  # most lines: one record each, nothing quoted
            continue
        if line is not None:
            pending.append(line)
            quote_open ^= line[1].count(b'"') % 2 == 1
            size += len(line[1])
            if not quote_open:
                yield _parse(pending[0][0], b"".join(raw for _, raw in pending))
                pending, size = [], 0
                continue
            if len(pending) <= MAX_RECORD_LINES and size < MAX_RECORD_BYTES:
                continue
        (number, raw), *rest = pending
        yield _parse(number, raw, _stray_quote(len(pending), line is None))
        again.extendleft(reversed(rest))
        pending, quote_open, size = [], False, 0


def _stray_quote(lines: int, at_end: bool) -> str:
    where = "by the end of the file" if at_end else f"within {lines - 1} lines"
    return f"unterminated quoted field: a quote opened on this line is not closed {where}"


def _parse(line: int, raw: bytes, error: str | None = None) -> Record:
    size = len(raw)
    if raw.endswith(LONG_LINE.encode()):
        kept = raw[: -len(LONG_LINE) - 1].decode("utf-8", "replace")
        return Record(line, kept + "...", None, LONG_LINE, size)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff" if line == 1 else "")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        return Record(line, text, None, f"invalid UTF-8 at byte {exc.start}", size)
    text = text.rstrip("\r\n")
    if error is not None:
        return Record(line, text, None, error, size)
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        return Record(line, text, None, f"bad quoting: {exc}", size)
    return Record(line, text, rows[0] if rows else [], None, size)


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, read in chunks: the import's identity."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
