"""Running an import: stream the file, publish valid rows, report the rest, resume safely."""

from __future__ import annotations

import asyncio
import csv
import os
import resource
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson
from aiokafka import AIOKafkaProducer

from traitflow.broker.clients import producer
from traitflow.config import Settings
from traitflow.importer.reader import Record, file_hash, records
from traitflow.importer.rows import ImportPlan, RowError, check_header, row_message
from traitflow.ingest.messages import routing_key
from traitflow.ingest.publisher import send_messages
from traitflow.timeutil import iso_from_ms, now_ms

ACK_WINDOW = 2_000


@dataclass
class ImportOptions:
    id_column: str = "external_id"
    name: str | None = None
    types: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    resume: bool = False
    errors_path: Path | None = None
    checkpoints: bool = True  # record acknowledged rows for ``resume``


@dataclass(frozen=True)
class ImportFile:
    """What an import reads: its bytes, their identity (message ids, checkpoints) and
    where its error report goes by default."""

    stem: str  # the default import id's first part
    digest: str  # SHA-256, hex
    size: int  # bytes to read, for progress
    open: Callable[[], AbstractContextManager[BinaryIO]]
    errors_path: Path | None

    @classmethod
    def local(cls, path: Path) -> ImportFile:
        errors = path.with_suffix(".errors.csv")
        return cls(path.stem, file_hash(path), path.stat().st_size, lambda: path.open("rb"), errors)


class RowGate(Protocol):
    """Holds back rows seen before (``traitflow sync`` skips unchanged ones)."""

    def unchanged(self, plan: ImportPlan, cells: list[str]) -> bool:
        """True: the row is not validated or published again (counted ``unchanged``)."""
        ...

    def accepted(self, message: dict[str, Any]) -> None:
        """The row last asked about is valid: ``message`` is being published."""
        ...

    def acknowledged(self) -> None:
        """Every row accepted so far is acknowledged by the broker."""
        ...


@dataclass
class ImportReport:
    import_id: str = ""
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    skipped: int = 0
    unchanged: int = 0  # valid rows a gate held back
    complete: bool = False  # every row read (false when stopped early)
    bytes_read: int = 0
    warnings: list[str] = field(default_factory=list)
    errors_path: Path | None = None  # where the rejected rows were written, if anywhere
    examples: list[tuple[int, str]] = field(default_factory=list)  # the first rejections
    seconds: float = 0.0
    peak_memory_mb: float = 0.0


Progress = Callable[[ImportReport], None]


async def import_csv(
    settings: Settings, path: Path, options: ImportOptions, progress: Progress = lambda _: None
) -> ImportReport:
    """``traitflow import FILE``: every valid row of a local file."""
    return await import_rows(settings, ImportFile.local(path), options, progress)


async def import_rows(
    settings: Settings,
    source: ImportFile,
    options: ImportOptions,
    progress: Progress = lambda _: None,
    gate: RowGate | None = None,
    stop: asyncio.Event | None = None,
) -> ImportReport:
    """Publish the file's valid rows, but those ``gate`` finds unchanged, acknowledged a
    window at a time; ``stop`` ends the import after the current window (``complete``
    stays false)."""
    started = time.monotonic()
    report = ImportReport(import_id=options.name or f"{source.stem}-{source.digest[:8]}")
    checkpoint = _checkpoint(settings, source.digest)
    done = _resumed(checkpoint) if options.resume else 0
    wanted = options.errors_path or (None if options.dry_run else source.errors_path)
    fresh = options.errors_path is None
    saved = options.checkpoints and not options.dry_run
    with source.open() as stream, ErrorReport(wanted, fresh) as errors:
        all_records = records(stream)
        plan = _plan(next(all_records, None), source.digest, report, options, settings)
        report.warnings += plan.warnings()
        async with _sender(settings, options.dry_run) as send:
            for number, record in enumerate(all_records, start=1):
                report.rows += 1
                report.bytes_read += record.size
                if number <= done:
                    report.skipped += 1
                    continue
                await _one(plan, record, number, send, errors, report, gate)
                if number % ACK_WINDOW == 0:
                    await _acknowledged(send, gate, checkpoint, number, saved)
                    report.seconds = time.monotonic() - started
                    progress(report)
                    if stop is not None and stop.is_set():
                        break
            else:
                report.complete = True
            await _acknowledged(send, gate, checkpoint, report.rows, saved)
    report.errors_path = errors.path
    report.examples = errors.examples
    report.warnings += plan.type_conflicts()
    report.seconds = time.monotonic() - started
    report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    progress(report)
    return report


class ErrorReport:
    """Rejected rows as CSV (line, reason, original text), in a file made for them: never
    an existing file or a symlink. It is created at the first rejection; ``fresh`` picks
    the next free name (``x-1.errors.csv``) rather than refusing. ``path`` None: only the
    first rejections are kept, for the summary (a dry run writes nothing)."""

    EXAMPLES = 10

    def __init__(self, path: Path | None, fresh: bool) -> None:
        self.wanted = path
        self.fresh = fresh
        self.path: Path | None = None
        self.examples: list[tuple[int, str]] = []
        self._file: Any = None
        self._writer: Any = None

    def __enter__(self) -> ErrorReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()

    def writerow(self, row: list[Any]) -> None:
        line, reason, original = row
        if len(self.examples) < self.EXAMPLES:
            self.examples.append((int(line), str(reason)))
        if self.wanted is None:
            return
        writer = self._writer or self._open(self.wanted)
        writer.writerow([line, safe_cell(str(reason)), safe_cell(_cut(str(original)))])

    def _open(self, wanted: Path) -> Any:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        for attempt in range(1000 if self.fresh else 1):
            path = wanted if not attempt else wanted.with_name(_numbered(wanted, attempt))
            try:
                descriptor = os.open(path, flags, 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                raise RowError(f"cannot write the error report {path}: {exc.strerror}") from exc
            self.path = path
            self._file = os.fdopen(descriptor, "w", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(["line", "reason", "original"])
            return self._writer
        raise RowError(f"the error report {wanted} exists: choose another with --errors")


MAX_COPIED_CHARS = 2000  # of a rejected row's text, in the error report


def _cut(text: str) -> str:
    if len(text) <= MAX_COPIED_CHARS:
        return text
    return f"{text[:MAX_COPIED_CHARS]}... ({len(text):,} characters, cut)"


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one beginning with ``=``, ``+``, ``-``, ``@``,
    a tab or a carriage return would be run as a formula (CSV injection), so it gets a
    leading apostrophe, as OWASP advises."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _numbered(path: Path, n: int) -> str:
    stem, dot, suffix = path.name.partition(".")
    return f"{stem}-{n}{dot}{suffix}" if dot else f"{path.name}-{n}"


class RowWriter(Protocol):
    def writerow(self, row: list[Any], /) -> Any: ...


async def _acknowledged(
    send: _Sender, gate: RowGate | None, checkpoint: Path, rows: int, saved: bool
) -> None:
    await send.flush()
    if gate is not None:
        gate.acknowledged()
    if saved:
        _save(checkpoint, rows)


async def _one(
    plan: ImportPlan,
    record: Record,
    number: int,
    send: _Sender,
    errors: RowWriter,
    report: ImportReport,
    gate: RowGate | None,
) -> None:
    if gate is not None and record.cells is not None and gate.unchanged(plan, record.cells):
        report.unchanged += 1  # before validation: what was valid last time still is
        return
    try:
        if record.cells is None:
            raise RowError(record.error or "malformed row")
        message = row_message(plan, record.cells, number)
        key = routing_key(message)
        if key is None:  # row_message refuses blank ids: a safety net, never expected
            raise RowError(f"{plan.id_column}: no usable id")
    except RowError as exc:
        report.rejected += 1
        errors.writerow([record.line, str(exc), record.text])
        return
    if gate is not None:
        gate.accepted(message)
    await send.send(key, orjson.dumps(message))
    report.imported += 1


def _plan(
    header: Record | None,
    digest: str,
    report: ImportReport,
    options: ImportOptions,
    settings: Settings,
) -> ImportPlan:
    if header is None or header.cells is None:
        raise RowError("the file has no readable header row")
    check_header(header.cells, options.id_column)
    return ImportPlan(
        header=header.cells,
        id_column=options.id_column,
        import_id=report.import_id,
        file_hash=digest,
        timestamp=iso_from_ms(now_ms()),
        unset_marker=settings.unset_marker,
        types=dict(options.types),
    )


class _Sender:
    """Publishes a window of rows as bundles (a record per partition's rows, which the
    worker applies several times faster than a record per row) and waits for their
    acknowledgements (or does nothing)."""

    def __init__(self, topic: str, client: AIOKafkaProducer | None) -> None:
        self.topic = topic
        self.client = client
        self.rows: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        if self.client is not None:
            self.rows.append((key, value))

    async def flush(self) -> None:
        if self.client is None or not self.rows:
            return
        for acknowledgement in await send_messages(self.client, self.topic, self.rows):
            await acknowledgement
        self.rows.clear()


@asynccontextmanager
async def _sender(settings: Settings, dry_run: bool) -> AsyncIterator[_Sender]:
    if dry_run:
        yield _Sender(settings.topics.events, None)
        return
    async with producer(settings) as client:
        yield _Sender(settings.topics.events, client)


def _checkpoint(settings: Settings, digest: str) -> Path:
    return settings.data_dir / "imports" / f"{digest[:16]}.json"


def _resumed(checkpoint: Path) -> int:
    try:
        return int(orjson.loads(checkpoint.read_bytes())["acknowledged_rows"])
    except (OSError, ValueError, KeyError):
        return 0


def _save(checkpoint: Path, rows: int) -> None:
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(orjson.dumps({"acknowledged_rows": rows}))
