"""Running an import: stream the file, publish valid rows, report the rest, resume safely."""

from __future__ import annotations

import csv
import resource
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer

from traitflow.broker.clients import producer, send_bundled
from traitflow.config import Settings
from traitflow.importer.reader import Record, file_hash, records
from traitflow.importer.rows import ImportPlan, RowError, check_header, row_message
from traitflow.ingest.messages import routing_key
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


@dataclass
class ImportReport:
    import_id: str = ""
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    skipped: int = 0
    bytes_read: int = 0
    warnings: list[str] = field(default_factory=list)
    errors_path: Path | None = None
    seconds: float = 0.0
    peak_memory_mb: float = 0.0


Progress = Callable[[ImportReport], None]


async def import_csv(
    settings: Settings, path: Path, options: ImportOptions, progress: Progress = lambda _: None
) -> ImportReport:
    started = time.monotonic()
    digest = file_hash(path)
    report = ImportReport(import_id=options.name or f"{path.stem}-{digest[:8]}")
    report.errors_path = options.errors_path or path.with_suffix(".errors.csv")
    checkpoint = _checkpoint(settings, digest)
    done = _resumed(checkpoint) if options.resume else 0
    with path.open("rb") as stream, report.errors_path.open("w", newline="") as errors_file:
        errors = csv.writer(errors_file)
        errors.writerow(["line", "reason", "original"])
        all_records = records(stream)
        plan = _plan(next(all_records, None), digest, report, options, settings)
        report.warnings += plan.warnings()
        async with _sender(settings, options.dry_run) as send:
            for number, record in enumerate(all_records, start=1):
                report.rows += 1
                report.bytes_read += record.size
                if number <= done:
                    report.skipped += 1
                    continue
                await _one(plan, record, number, send, errors, report)
                if number % ACK_WINDOW == 0:
                    await send.flush()
                    _save(checkpoint, number, options.dry_run)
                    report.seconds = time.monotonic() - started
                    progress(report)
            await send.flush()
            _save(checkpoint, report.rows, options.dry_run)
    report.warnings += plan.type_conflicts()
    report.seconds = time.monotonic() - started
    report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    progress(report)
    return report


class RowWriter(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


async def _one(
    plan: ImportPlan,
    record: Record,
    number: int,
    send: _Sender,
    errors: RowWriter,
    report: ImportReport,
) -> None:
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
        for acknowledgement in await send_bundled(self.client, self.topic, self.rows):
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


def _save(checkpoint: Path, rows: int, dry_run: bool) -> None:
    if dry_run:
        return
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(orjson.dumps({"acknowledged_rows": rows}))
