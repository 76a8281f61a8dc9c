"""What a sync remembers per source, in a RocksDB of its own under the data directory.

- per id: a digest of the row's values, the generation (file) that last carried it, and
  the trait names it set (what ``--absent unset`` unsets);
- per file name: what was imported, for "not imported yet" and for the report;
- the generation counter.

A row's entry is written only once its message is acknowledged (``ChangedRows``): after a
crash the file is read again and the rows already published are skipped as unchanged.
The digest covers the cells as written, so an unchanged row costs no validation.
Losing the directory republishes every row once, never loses one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict, WriteBatch

from traitflow.exceptions import TraitflowError
from traitflow.importer.rows import ImportPlan

ROW, FILE, GENERATION = b"r", b"f", b"g"


@dataclass(frozen=True, slots=True)
class RowEntry:
    digest: str
    generation: int
    traits: list[str]


def row_digest(plan: ImportPlan, cells: list[str]) -> str:
    """64 bits of BLAKE2b over the row's cells as written, with the header and type
    overrides that give them meaning: a change to any of them is a change."""
    return _digest(_framing(plan), cells)


def _framing(plan: ImportPlan) -> tuple[str, str]:
    """What every row of one import shares in its digest: the header, the overrides."""
    context = "".join(f"\x1e{column}={kind}" for column, kind in sorted(plan.types.items()))
    return "\x1f".join(plan.header) + "\x1e", context


def _digest(framing: tuple[str, str], cells: list[str]) -> str:
    text = framing[0] + "\x1f".join(cells) + framing[1]
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class SyncState:
    def __init__(self, path: Path) -> None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self.db = Rdict(str(path), Options(raw_mode=True))
        except Exception as exc:  # rocksdict raises plain Exceptions; a lock is the usual one
            reason = "another sync of this source is running" if "lock" in str(exc) else exc
            raise TraitflowError(f"cannot open the sync state in {path}: {reason}") from None

    def close(self) -> None:
        self.db.close()

    # rows

    def row(self, person: str) -> RowEntry | None:
        raw = self.db.get(ROW + person.encode())
        return None if raw is None else RowEntry(*orjson.loads(raw))

    def write_rows(self, rows: list[tuple[str, RowEntry]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for person, entry in rows:
            value = orjson.dumps([entry.digest, entry.generation, entry.traits])
            batch.put(ROW + person.encode(), value)
        self.db.write(batch)

    def forget_rows(self, people: list[str]) -> None:
        batch = WriteBatch(raw_mode=True)
        for person in people:
            batch.delete(ROW + person.encode())
        self.db.write(batch)

    def row_counts(self, generation: int) -> tuple[int, int]:
        """How many ids are known, and how many no file since ``generation`` carried."""
        known = absent = 0
        for _, raw in self._prefixed(ROW):
            known += 1
            absent += RowEntry(*orjson.loads(raw)).generation < generation
        return known, absent

    def older_rows(self, generation: int) -> Iterator[tuple[str, RowEntry]]:
        """Rows no file since ``generation`` carried: ids absent from that snapshot."""
        for key, raw in self._prefixed(ROW):
            entry = RowEntry(*orjson.loads(raw))
            if entry.generation < generation:
                yield key.decode(), entry

    # files

    def next_generation(self) -> int:
        raw = self.db.get(GENERATION)
        generation = (int(raw) if raw is not None else 0) + 1
        self.db[GENERATION] = str(generation).encode()
        return generation

    def imported(self, name: str) -> dict[str, Any] | None:
        raw = self.db.get(FILE + name.encode())
        return None if raw is None else dict(orjson.loads(raw))

    def record_file(self, name: str, facts: dict[str, Any]) -> None:
        self.db[FILE + name.encode()] = orjson.dumps(facts)

    def files(self) -> list[dict[str, Any]]:
        return [dict(orjson.loads(raw)) for _, raw in self._prefixed(FILE)]

    def _prefixed(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Keys (without the prefix) and values under ``prefix``, in key order."""
        for key, raw in self.db.items(from_key=prefix):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                break
            yield key[len(prefix) :], bytes(raw)


class ChangedRows:
    """The import's ``RowGate``: a row whose cells are those of the id's last published
    row is skipped before validation; every row seen is recorded once its window is
    acknowledged (a rejected row never is, so it is reported again next time)."""

    def __init__(self, state: SyncState, generation: int, dry_run: bool) -> None:
        self.state = state
        self.generation = generation
        self.dry_run = dry_run
        self.pending: list[tuple[str, RowEntry]] = []
        self._asked: tuple[str, RowEntry | None] = ("", None)
        self._plan: tuple[ImportPlan, int, tuple[str, str]] | None = None  # per file, once

    def unchanged(self, plan: ImportPlan, cells: list[str]) -> bool:
        self._asked = ("", None)
        if self._plan is None or self._plan[0] is not plan:
            position = plan.header.index(plan.id_column)  # check_header made sure it is there
            self._plan = (plan, position, _framing(plan))
        _, position, framing = self._plan
        if len(cells) != len(plan.header):
            return False  # malformed: validation rejects it
        person, digest = cells[position].strip(), _digest(framing, cells)
        stored = self.state.row(person)
        if stored is not None and stored.digest == digest:
            self.pending.append((person, RowEntry(digest, self.generation, stored.traits)))
            return True
        self._asked = (digest, stored)
        return False

    def accepted(self, message: dict[str, Any]) -> None:
        digest, stored = self._asked
        names = sorted(set(message["traits"]) | set(stored.traits if stored else ()))
        entry = RowEntry(digest, self.generation, names)  # blank cells keep what they set
        self.pending.append((str(message["userId"]), entry))

    def acknowledged(self) -> None:
        if not self.dry_run and self.pending:
            self.state.write_rows(self.pending)
        self.pending.clear()
