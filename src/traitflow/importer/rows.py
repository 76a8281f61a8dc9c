"""One CSV row to one identify message (pure): identifier, standard rules, typed traits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from traitflow.importer.columns import STANDARD, near_miss
from traitflow.importer.values import coerce, infer


class RowError(ValueError):
    """Why a row is rejected; it is written to the error report with its line."""


@dataclass
class ImportPlan:
    """What applies to every row of one import."""

    header: list[str]
    id_column: str
    import_id: str
    file_hash: str
    timestamp: str
    unset_marker: str = "__null__"
    types: dict[str, str] = field(default_factory=dict)
    seen_types: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def warnings(self) -> list[str]:
        found = []
        for name in self.header:
            meant = near_miss(name)
            if meant is not None:
                found.append(f"column {name!r} is not the standard {meant!r}: imported as custom")
        return found

    def type_conflicts(self) -> list[str]:
        """Custom columns whose values read as different types (ignoring integer vs float)."""
        found = []
        for name, kinds in sorted(self.seen_types.items()):
            if (
                len(
                    kinds - {"integer", "float"}
                    | ({"number"} if kinds & {"integer", "float"} else set())
                )
                > 1
            ):
                found.append(
                    f"column {name!r} mixes {', '.join(sorted(kinds))}: use --type {name}=..."
                )
        return found


def check_header(header: list[str], id_column: str) -> None:
    if id_column not in header:
        raise RowError(f"the header has no {id_column!r} column (choose one with --id-column)")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise RowError(f"duplicate column names in the header: {', '.join(duplicates)}")


def row_message(plan: ImportPlan, cells: list[str], row_number: int) -> dict[str, Any]:
    """The identify message for one row; ``RowError`` if the row must be rejected."""
    if len(cells) != len(plan.header):
        raise RowError(f"{len(cells)} cells where the header has {len(plan.header)}")
    values = dict(zip(plan.header, cells, strict=True))
    person = values[plan.id_column].strip()
    if not person:
        raise RowError(f"no {plan.id_column}")
    traits, problems = {}, []
    for name, cell in values.items():
        if name == plan.id_column or not cell.strip():
            continue  # a blank cell never overwrites a stored value
        try:
            traits[name] = _trait(plan, name, cell.strip())
        except RowError as exc:
            problems.append(str(exc))
    if problems:  # every problem of the row at once: one fix, not one per import
        raise RowError("; ".join(problems))
    return {
        "type": "identify",
        "userId": person,
        "messageId": f"import-{plan.file_hash[:16]}-{row_number}",
        "timestamp": plan.timestamp,
        "traits": traits,
        "context": {"traitflow": {"import": plan.import_id}},
    }


def _trait(plan: ImportPlan, name: str, cell: str) -> Any:
    if cell == plan.unset_marker:
        return cell
    try:
        if name in STANDARD:
            return STANDARD[name](cell)
        if name in plan.types:
            return coerce(cell, plan.types[name])
    except ValueError as exc:
        raise RowError(f"{name}: {exc}") from None
    kind, value = infer(cell)
    plan.seen_types[name].add(kind)
    return value
