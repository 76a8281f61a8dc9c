"""Segment definitions as data: parsed from YAML or JSON, validated by ``schemas/segment.json``.

A file holds one definition, a ``segments:`` list, or several YAML documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from fastjsonschema import JsonSchemaValueException

from traitflow.exceptions import InvalidDefinition
from traitflow.jsonschemas import compile_schema, explain
from traitflow.segments.conditions import Condition, build_condition


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    name: str
    description: str
    condition: Condition
    spec: dict[str, Any]
    rev: str

    @property
    def traits(self) -> frozenset[str]:
        return self.condition.traits()


def segment_from_spec(spec: Any, where: str = "segment") -> Segment:
    """Validate one definition; errors name ``where`` and the failing field."""
    try:
        compile_schema("segment.json")(spec)
    except JsonSchemaValueException as exc:
        raise InvalidDefinition(f"{where}: {explain(exc)}") from exc
    key = spec["key"]
    condition = build_condition(spec["condition"], f"{where} {key!r}: condition")
    canonical = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)
    return Segment(
        key=key,
        name=spec.get("name", key),
        description=spec.get("description", ""),
        condition=condition,
        spec=spec,
        rev=hashlib.sha256(canonical).hexdigest()[:12],
    )


def load_segments(path: Path) -> list[Segment]:
    """Every definition in a YAML or JSON file, all valid or an error naming the bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidDefinition(f"{path}: cannot read: {exc.strerror}") from exc
    specs = list(_specs_in(text, path))
    if not specs:
        raise InvalidDefinition(f"{path}: no segment definitions found")
    segments = [segment_from_spec(spec, f"{path} #{i + 1}") for i, spec in enumerate(specs)]
    _refuse_duplicates(segments, path)
    return segments


def _specs_in(text: str, path: Path) -> Iterator[Any]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise InvalidDefinition(f"{path}: not valid YAML/JSON: {exc}") from exc
    for document in documents:
        if isinstance(document, dict) and set(document) == {"segments"}:
            if not isinstance(document["segments"], list):
                raise InvalidDefinition(f"{path}: 'segments' must be a list")
            yield from document["segments"]
        elif document is not None:
            yield document


def _refuse_duplicates(segments: list[Segment], path: Path) -> None:
    seen: set[str] = set()
    for segment in segments:
        if segment.key in seen:
            raise InvalidDefinition(f"{path}: segment key {segment.key!r} is defined twice")
        seen.add(segment.key)
