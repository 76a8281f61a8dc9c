"""One sync round: every file of the source not imported yet, in name order, each through
the import (validation, error report, idempotent message ids) behind ``ChangedRows``;
then, for ``--absent unset``, the ids the snapshot no longer carries."""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from traitflow.broker.clients import producer
from traitflow.config import Settings
from traitflow.importer.rows import RowError
from traitflow.importer.run import ImportFile, ImportOptions, ImportReport, import_rows
from traitflow.ingest.publisher import send_messages
from traitflow.sync.sources import Source, SourceFile
from traitflow.sync.state import ChangedRows, SyncState
from traitflow.timeutil import iso_from_ms, now_ms

ABSENT_POLICIES = ("keep", "unset")
ABSENT_WINDOW = 2_000


@dataclass
class SyncOptions:
    pattern: str = "*.csv*"
    id_column: str = "external_id"
    name: str | None = None  # the import id profiles record; default: the source's name
    types: dict[str, str] = field(default_factory=dict)
    absent: str = "keep"
    dry_run: bool = False
    max_absent: float = 0.5  # of the ids known: more absent looks like a truncated export


@dataclass
class FileOutcome:
    """What one file's import did; ``error`` says why it stopped, if it failed."""

    file: SourceFile
    report: ImportReport | None = None
    absent: int = 0  # ids unset because the snapshot no longer carries them
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.error is None and self.report is not None and self.report.complete


Observer = Callable[[FileOutcome], None]


def state_dir(settings: Settings, source: Source) -> Path:
    """Per source: ``exports``, ``./exports/`` and ``file://.../exports`` share one."""
    digest = hashlib.sha256(source.key.encode()).hexdigest()[:16]
    return settings.data_dir / "sync" / digest


def import_id(source: Source, options: SyncOptions) -> str:
    """Stable across files, so ``{import: NAME}`` segments hold everyone the source sent."""
    if options.name:
        return options.name
    stem = source.root.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    return f"sync-{stem or 'source'}"


async def sync_round(
    settings: Settings,
    source: Source,
    options: SyncOptions,
    stop: asyncio.Event | None = None,
    observe: Observer = lambda _: None,
    progress: Callable[[SourceFile, ImportReport], None] = lambda file, report: None,
) -> list[FileOutcome]:
    """Import each new file of ``source``; the outcomes, files already imported left out."""
    outcomes = []
    state = SyncState(state_dir(settings, source))
    try:
        for file in await asyncio.to_thread(_new_files, source, state):
            if stop is not None and stop.is_set():
                break
            outcome = await _sync_file(settings, source, state, file, options, stop, progress)
            outcomes.append(outcome)
            observe(outcome)
    finally:
        state.close()
    return outcomes


def imported_files(settings: Settings, source: Source) -> list[dict[str, Any]]:
    state = SyncState(state_dir(settings, source))
    try:
        return state.files()
    finally:
        state.close()


def _new_files(source: Source, state: SyncState) -> list[SourceFile]:
    """Files whose name, size and checksum no completed import recorded; a known file whose
    size and modification time are unchanged is not read again to checksum it."""
    found = []
    for file in source.files():
        known = state.imported(file.name)
        if known is None:
            found.append(source.checksummed(file))
            continue
        same_listing = (known["size"], known["modified"]) == (file.size, file.modified)
        if same_listing and (not file.checksum or file.checksum == known["checksum"]):
            continue
        file = source.checksummed(file)
        if (known["size"], known["checksum"]) == (file.size, file.checksum):
            continue
        found.append(file)
    return found


async def _sync_file(
    settings: Settings,
    source: Source,
    state: SyncState,
    file: SourceFile,
    options: SyncOptions,
    stop: asyncio.Event | None,
    progress: Callable[[SourceFile, ImportReport], None],
) -> FileOutcome:
    outcome = FileOutcome(file)
    generation = state.next_generation()
    gate = ChangedRows(state, generation, options.dry_run)
    errors_dir = state_dir(settings, source) / "errors"
    errors_dir.mkdir(mode=0o700, exist_ok=True)
    target = ImportFile(
        stem=file.name, digest=file.identity, size=file.size,
        open=lambda: source.open(file), errors_path=errors_dir / f"{_safe(file.name)}.errors.csv",
    )  # fmt: skip
    imports = ImportOptions(
        options.id_column, import_id(source, options), dict(options.types), options.dry_run,
        errors_path=None, checkpoints=False,
    )  # fmt: skip
    try:
        outcome.report = await import_rows(
            settings, target, imports, lambda report: progress(file, report), gate, stop
        )
    except RowError as exc:  # the file as a whole: no header, no id column
        outcome.error = str(exc)
    except (OSError, EOFError, zlib.error) as exc:  # unreadable: corrupt gzip, lost connection
        outcome.error = f"cannot read it: {_reason(exc)}"
    except KafkaError as exc:  # rows acknowledged so far stay recorded: the next round resumes
        outcome.error = f"Kafka did not acknowledge: {exc!r}"
    if outcome.done and options.absent == "unset" and not options.dry_run:
        outcome.error = _too_many_absent(state, generation, options.max_absent)
        if outcome.error is None:
            outcome.absent = await _unset_absent(settings, state, generation, file, imports, stop)
    if outcome.done and not options.dry_run and (stop is None or not stop.is_set()):
        _record(state, outcome)
    return outcome


def _too_many_absent(state: SyncState, generation: int, most: float) -> str | None:
    """A snapshot lacking more than ``most`` of the ids known is more likely a truncated
    export than that many people leaving: refuse to unset them, and say so every round
    (the file stays unrecorded) until the file is fixed or ``--max-absent`` allows it."""
    known, absent = state.row_counts(generation)
    if known == 0 or absent <= most * known:
        return None
    return (
        f"it lacks {absent:,} of the {known:,} ids this source sent ({absent / known:.0%}, "
        f"over --max-absent {most:g}): nothing unset; a truncated export? Its rows are "
        "imported; fix the file, or allow it with --max-absent"
    )


async def _unset_absent(
    settings: Settings,
    state: SyncState,
    generation: int,
    file: SourceFile,
    imports: ImportOptions,
    stop: asyncio.Event | None,
) -> int:
    """Unset the imported traits of every id this snapshot no longer carries, then forget
    the id; acknowledged a window at a time, so a crash repeats a window, never skips one."""
    stamp, unset = iso_from_ms(now_ms()), 0
    window: list[str] = []
    keyed: list[tuple[bytes, bytes]] = []
    async with producer(settings) as client:
        for person, entry in state.older_rows(generation):  # RocksDB iterates a snapshot
            message = {
                "type": "identify", "userId": person, "timestamp": stamp,
                "messageId": f"sync-absent-{file.identity[:16]}-{_short(person)}",
                "traits": dict.fromkeys(entry.traits, settings.unset_marker),
                "context": {"traitflow": {"import": imports.name}},
            }  # fmt: skip
            keyed.append((person.encode(), orjson.dumps(message)))
            window.append(person)
            if len(window) >= ABSENT_WINDOW:
                unset += await _flush_absent(client, settings, state, keyed, window)
                if stop is not None and stop.is_set():
                    return unset
        unset += await _flush_absent(client, settings, state, keyed, window)
    return unset


async def _flush_absent(
    client: Any, settings: Settings, state: SyncState, keyed: list[tuple[bytes, bytes]],
    window: list[str],
) -> int:  # fmt: skip
    if not window:
        return 0
    for acknowledgement in await send_messages(client, settings.topics.events, keyed):
        await acknowledgement
    state.forget_rows(window)
    done = len(window)
    keyed.clear()
    window.clear()
    return done


def _record(state: SyncState, outcome: FileOutcome) -> None:
    report, file = outcome.report, outcome.file
    assert report is not None
    state.record_file(file.name, {
        "name": file.name, "size": file.size, "modified": file.modified,
        "checksum": file.checksum, "rows": report.rows, "published": report.imported,
        "unchanged": report.unchanged, "rejected": report.rejected, "absent": outcome.absent,
        "finished_ms": now_ms(), "seconds": round(report.seconds, 3),
        "errors": str(report.errors_path) if report.errors_path else None,
    })  # fmt: skip


def _short(person: str) -> str:
    return hashlib.blake2b(person.encode(), digest_size=8).hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _reason(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, EOFError | zlib.error) or "gzip" in text.lower():
        return f"corrupt or truncated gzip ({text})"
    return text
