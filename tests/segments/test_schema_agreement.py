"""The names the JSON Schemas accept are the names the code implements: one rule per fact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from traitflow.segments.features import AGGREGATES
from traitflow.segments.ops import SPELLINGS, UNIT_MS

SCHEMAS = Path(__file__).parents[2] / "schemas"


def _enums(node: Any, key: str) -> list[list[str]]:
    """Every ``enum`` under a property named ``key``, anywhere in the schema."""
    found: list[list[str]] = []
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, dict) and "enum" in value:
                found.append(value["enum"])
            found += _enums(value, key)
    elif isinstance(node, list):
        for value in node:
            found += _enums(value, key)
    return found


def _schema(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text())


def test_every_operator_spelling_the_schemas_accept_is_in_the_table_and_no_other() -> None:
    segment = _schema("segment.json")
    enums = [segment["definitions"]["op"]["enum"], *_enums(_schema("computed-trait.json"), "op")]
    assert len(enums) == 2
    for enum in enums:
        assert len(enum) == len(set(enum))
        assert set(enum) == SPELLINGS


def test_aggregates_and_units_match_the_schemas() -> None:
    [aggregates] = _enums(_schema("computed-trait.json"), "aggregate")
    assert tuple(aggregates) == AGGREGATES
    for name in ("segment.json", "computed-trait.json"):
        for units in _enums(_schema(name), "unit"):
            assert set(units) == set(UNIT_MS)
