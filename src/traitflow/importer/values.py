"""Typing a custom column's cell: ISO-8601 datetime, TRUE/FALSE, integer, float, or string."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

TYPES = ("datetime", "boolean", "integer", "float", "string")
_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def infer(cell: str) -> tuple[str, Any]:
    """The type a cell reads as, and its value (datetimes stay ISO strings)."""
    if cell in ("TRUE", "FALSE", "true", "false", "True", "False"):
        return "boolean", cell.lower() == "true"
    if _INTEGER.match(cell):
        return "integer", int(cell)
    if _FLOAT.match(cell):
        return "float", float(cell)
    if _is_datetime(cell):
        return "datetime", cell
    return "string", cell


def coerce(cell: str, kind: str) -> Any:
    """The cell as ``kind`` (a ``--type`` override); ``ValueError`` says why it cannot be."""
    found, value = infer(cell)
    if kind == "string":
        return cell
    if found == kind or (kind == "float" and found == "integer"):
        return float(value) if kind == "float" else value
    raise ValueError(f"{cell!r} is not a {kind}")


def _is_datetime(cell: str) -> bool:
    if len(cell) < 10 or not cell[:4].isdigit() or cell[4] != "-":
        return False
    try:
        datetime.fromisoformat(cell.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
