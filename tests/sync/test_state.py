"""What a sync remembers (real RocksDB): a row counts as changed until its window is
acknowledged, a rejected row is never remembered, ids a snapshot no longer has are found,
a second sync of one source waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from traitflow.exceptions import TraitflowError
from traitflow.importer.rows import ImportPlan
from traitflow.sync.state import ChangedRows, RowEntry, SyncState, row_digest

PLAN = ImportPlan(["external_id", "plan", "seats"], "external_id", "crm", "ab" * 32, "now")


def _offer(gate: ChangedRows, person: str, plan: str, seats: str = "") -> bool:
    """Ask the gate as the import does; True when the row is published."""
    cells = [person, plan, seats]
    if gate.unchanged(PLAN, cells):
        return False
    traits: dict[str, Any] = {"plan": plan, **({"seats": int(seats)} if seats else {})}
    gate.accepted({"userId": person, "traits": traits})
    return True


def test_a_row_digest_covers_cells_header_and_type_overrides() -> None:
    assert row_digest(PLAN, ["ada", "pro", "3"]) != row_digest(PLAN, ["ada", "pro", "4"])
    moved = ImportPlan(["external_id", "seats", "plan"], "external_id", "crm", "", "now")
    assert row_digest(PLAN, ["ada", "pro", "3"]) != row_digest(moved, ["ada", "pro", "3"])
    typed = ImportPlan(PLAN.header, "external_id", "crm", "", "now", types={"seats": "string"})
    assert row_digest(PLAN, ["ada", "pro", "3"]) != row_digest(typed, ["ada", "pro", "3"])


def test_only_new_and_changed_rows_pass_once_acknowledged(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "state")
    first = ChangedRows(state, 1, dry_run=False)
    assert _offer(first, "ada", "pro") and _offer(first, "bob", "free")
    assert state.row("ada") is None  # nothing recorded before the broker acknowledged
    first.acknowledged()
    second = ChangedRows(state, 2, dry_run=False)
    assert not _offer(second, "ada", "pro")
    assert _offer(second, "bob", "pro")
    assert _offer(second, "cy", "free")
    second.acknowledged()
    assert state.row("ada") == RowEntry(row_digest(PLAN, ["ada", "pro", ""]), 2, ["plan"])
    assert [person for person, _ in state.older_rows(2)] == []
    third = ChangedRows(state, 3, dry_run=False)
    _offer(third, "ada", "pro")
    third.acknowledged()
    assert sorted(person for person, _ in state.older_rows(3)) == ["bob", "cy"]
    state.forget_rows(["bob"])
    assert [person for person, _ in state.older_rows(3)] == ["cy"]
    state.close()


def test_a_rejected_row_is_not_remembered_so_it_is_reported_again(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "state")
    gate = ChangedRows(state, 1, dry_run=False)
    assert not gate.unchanged(PLAN, ["ada", "pro", "three"])  # validation rejects it
    assert not gate.unchanged(PLAN, ["bob", "pro"])  # a cell short
    gate.acknowledged()
    assert state.row("ada") is None and state.row("bob") is None
    assert not ChangedRows(state, 2, dry_run=False).unchanged(PLAN, ["ada", "pro", "three"])
    state.close()


def test_a_blank_cell_keeps_the_trait_to_unset_later(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "state")
    gate = ChangedRows(state, 1, dry_run=False)
    _offer(gate, "ada", "pro", "3")
    gate.acknowledged()
    gate = ChangedRows(state, 2, dry_run=False)
    assert _offer(gate, "ada", "pro")  # seats blank now: a change; seats stays to unset
    gate.acknowledged()
    entry = state.row("ada")
    assert entry is not None and entry.traits == ["plan", "seats"]
    state.close()


def test_a_dry_run_records_nothing(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "state")
    gate = ChangedRows(state, 1, dry_run=True)
    _offer(gate, "ada", "pro")
    gate.acknowledged()
    assert state.row("ada") is None
    state.close()


def test_files_and_generations_survive_a_reopen(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "state")
    assert state.next_generation() == 1
    state.record_file("a.csv", {"name": "a.csv", "size": 3})
    state.close()
    state = SyncState(tmp_path / "state")
    assert state.next_generation() == 2
    assert state.imported("a.csv") == {"name": "a.csv", "size": 3}
    assert state.imported("b.csv") is None
    assert state.files() == [{"name": "a.csv", "size": 3}]
    state.close()


def test_the_state_directory_is_private_and_held_by_one_sync(tmp_path: Path) -> None:
    state = SyncState(tmp_path / "state")
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    with pytest.raises(TraitflowError, match="another sync of this source is running"):
        SyncState(tmp_path / "state")
    state.close()
