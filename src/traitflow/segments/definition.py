"""Definitions as data: segments and computed traits, from YAML or JSON files.

Validated by ``schemas/segment.json`` and ``schemas/computed-trait.json``. A file holds one
segment, or ``segments:`` and/or ``computed_traits:`` lists, or several YAML documents.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from fastjsonschema import JsonSchemaValueException

from traitflow.exceptions import InvalidDefinition, InvalidMessage
from traitflow.ingest.messages import check_depth
from traitflow.jsonschemas import compile_schema, explain, load_schema
from traitflow.membership.destinations import Destination, destinations_from_spec
from traitflow.segments.conditions import Condition, build_condition
from traitflow.segments.features import SESSION_AGGREGATES, AggregateFeature
from traitflow.segments.matchers import build_matcher, build_window
from traitflow.segments.ops import span_ms

COMPUTED_PREFIX = "computed/"
MAX_DEFINITION_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    name: str
    description: str
    condition: Condition
    spec: dict[str, Any]
    rev: str
    destinations: tuple[Destination, ...] = ()

    @property
    def record_key(self) -> str:
        return self.key

    @property
    def reads(self) -> list[str]:
        """What the condition reads, for people: ``trait plan``, ``segment trial``, ``events``."""
        deps = self.condition.deps()
        named = sorted(f"{kind} {name}" for kind, name in deps if kind != "feature")
        return named + (["events"] if any(kind == "feature" for kind, _ in deps) else [])


@dataclass(frozen=True, slots=True)
class ComputedTrait:
    key: str
    feature: AggregateFeature
    spec: dict[str, Any]
    rev: str

    @property
    def record_key(self) -> str:
        return COMPUTED_PREFIX + self.key


Definition = Segment | ComputedTrait


def segment_from_spec(spec: Any, where: str = "segment") -> Segment:
    """Validate one segment definition; errors name ``where`` and the failing field."""
    _validate("segment.json", spec, where)
    key = spec["key"]
    condition = build_condition(spec["condition"], f"{where} {key!r}: condition")
    destinations = destinations_from_spec(spec.get("destinations", []), f"{where} {key!r}")
    name, description = spec.get("name", key), spec.get("description", "")
    return Segment(key, name, description, condition, spec, _rev(spec), destinations)


def computed_from_spec(spec: Any, where: str = "computed trait") -> ComputedTrait:
    _validate("computed-trait.json", spec, where)
    at = f"{where} {spec['key']!r}"
    aggregate = spec["aggregate"]
    if aggregate not in ("count", *SESSION_AGGREGATES) and "property" not in spec:
        raise InvalidDefinition(f"{at}: aggregate {aggregate!r} needs a 'property'")
    path = tuple(spec["property"].split(".")) if "property" in spec else None
    window = build_window(spec.get("within"), at)
    if aggregate in SESSION_AGGREGATES and window.last_ms is None:
        raise InvalidDefinition(
            f"{at}: aggregate {aggregate!r} needs a sliding window (within: {{last: N}} or "
            "{from_ago: N, to_ago: M}): the sessions it keeps are bounded by it"
        )
    if "session_gap" in spec and aggregate not in SESSION_AGGREGATES:
        raise InvalidDefinition(f"{at}: 'session_gap' applies to the minutes and visits aggregates")
    gap = span_ms(spec.get("session_gap", 30), "minutes", f"{at}.session_gap")
    feature = AggregateFeature(build_matcher(spec, at), window, aggregate, path, gap)
    return ComputedTrait(spec["key"], feature, spec, _rev(spec))


def definition_from_record(key: bytes, value: bytes) -> Definition:
    spec = orjson.loads(value)
    where = f"segments record {key.decode(errors='replace')!r}"
    if key.startswith(COMPUTED_PREFIX.encode()):
        return computed_from_spec(spec, where)
    return segment_from_spec(spec, where)


def load_definitions(path: Path) -> list[Definition]:
    """Every definition in a YAML or JSON file, all valid or an error naming the bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidDefinition(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_definitions(text, str(path))


def parse_definitions(text: str, source: str) -> list[Definition]:
    """Every definition in YAML or JSON text (a file's, or an admin API request's)."""
    definitions: list[Definition] = []
    for i, (kind, spec) in enumerate(_specs_in(text, source)):
        where = f"{source} #{i + 1}"
        build = computed_from_spec if kind == "computed" else segment_from_spec
        definitions.append(build(spec, where))
    if not definitions:
        raise InvalidDefinition(f"{source}: no definitions found")
    _refuse_duplicates(definitions, source)
    return definitions


def load_segments(path: Path) -> list[Segment]:
    return [d for d in load_definitions(path) if isinstance(d, Segment)]


def _validate(schema: str, spec: Any, where: str) -> None:
    """Refuse a definition with what is wrong, where, and the likely fix."""
    if isinstance(spec, dict) and isinstance(spec.get("key"), str):
        where = f"{where} {spec['key']!r}"
    try:
        check_depth(spec, MAX_DEFINITION_DEPTH)
    except InvalidMessage:
        raise InvalidDefinition(
            f"{where}: nested deeper than {MAX_DEFINITION_DEPTH} levels"
        ) from None
    _refuse_non_json_numbers(spec, where)
    if isinstance(spec, dict):
        _refuse_unknown_keys(schema, spec, where)
    try:
        compile_schema(schema)(spec)
    except JsonSchemaValueException as exc:
        raise InvalidDefinition(f"{where}: {_explained(exc)}") from exc


def _refuse_non_json_numbers(spec: Any, where: str) -> None:
    """YAML reads ``.inf``, ``.nan`` and integers of any size; JSON (the segments topic,
    orjson) has none of them: refused here, not a 500 when the definition is written."""
    pending = [spec]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidDefinition(f"{where}: {value} is no JSON number")
        elif isinstance(value, int) and not -(2**63) <= value < 2**64:
            raise InvalidDefinition(f"{where}: {value} is an integer past 64 bits")


def _refuse_unknown_keys(schema: str, spec: dict[str, Any], where: str) -> None:
    known = list(load_schema(schema).get("properties", {}))
    for name in spec:
        if name not in known:
            raise InvalidDefinition(
                f"{where}: unknown key {name!r}{_did_you_mean(str(name), known)}; "
                f"a definition has {', '.join(known)}"
            )


def _explained(exc: JsonSchemaValueException) -> str:
    """The schema's complaint, shorter: a missing field by name, a wrong choice with the
    closest right one instead of the whole list."""
    field = ".".join(str(part) for part in exc.path[1:]) or "the definition"
    if exc.rule == "required":
        missing = [name for name in exc.rule_definition if name not in (exc.value or {})]
        inside = "" if len(exc.path) == 1 else f"{field}: "
        return f"{inside}{', '.join(map(repr, missing))} is missing"
    if exc.rule == "oneOf" and exc.path[-1] in ("first", "last"):
        return (
            f"{field} takes one of 'less_than' or 'more_than' (how long ago, in 'unit': "
            "seconds, minutes, hours, days or weeks; default days)"
        )
    if exc.rule == "enum":
        choices = [str(choice) for choice in exc.rule_definition]
        return (
            f"{field} {exc.value!r} is not one of the {len(choices)} allowed values"
            f"{_did_you_mean(str(exc.value), choices)} (see docs/segments.md)"
        )
    return explain(exc)


def _did_you_mean(word: str, choices: list[str]) -> str:
    spoken = {name: op for name, op in SPOKEN_OPERATORS.items() if op in choices}
    if word.lower() in spoken:
        return f" (did you mean {spoken[word.lower()]!r}?)"
    close = difflib.get_close_matches(word.lower(), [*choices, *spoken], n=2, cutoff=0.6)
    meant = list(dict.fromkeys(spoken.get(name, name) for name in close))
    return f" (did you mean {' or '.join(map(repr, meant))}?)" if meant else ""


SPOKEN_OPERATORS = {  # what people type for an operator, only to suggest the right one
    "equals": "=", "eq": "=", "is": "=", "==": "=", "not_equals": "!=", "ne": "!=",
    "less_than": "<", "lt": "<", "lte": "<=", "greater_than": ">", "gt": ">", "gte": ">=",
}  # fmt: skip


def _rev(spec: Any) -> str:
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def _refuse_aliases(text: str, source: str) -> None:
    """YAML aliases (``*name``) can make a few lines stand for billions of values, which
    checking would take minutes over; no definition needs one."""
    try:
        for token in yaml.scan(text):
            if isinstance(token, yaml.AliasToken):
                raise InvalidDefinition(
                    f"{source}: YAML aliases (*{token.value}) are not accepted in definitions; "
                    "write the value out"
                )
    except yaml.YAMLError:
        return  # the load below says what is wrong


def _specs_in(text: str, source: str) -> Iterator[tuple[str, Any]]:
    _refuse_aliases(text, source)
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise InvalidDefinition(f"{source}: not valid YAML/JSON: {exc}") from exc
    except RecursionError:  # the YAML parser recurses per level of nesting
        raise InvalidDefinition(
            f"{source}: nested deeper than the YAML parser goes (at most "
            f"{MAX_DEFINITION_DEPTH} levels are allowed)"
        ) from None
    for document in documents:
        if isinstance(document, dict) and set(document) <= {"segments", "computed_traits"}:
            for field, kind in (("computed_traits", "computed"), ("segments", "segment")):
                items = document.get(field, [])
                if not isinstance(items, list):
                    raise InvalidDefinition(f"{source}: '{field}' must be a list")
                yield from ((kind, item) for item in items)
        elif document is not None:
            yield "segment", document


def _refuse_duplicates(definitions: list[Definition], source: str) -> None:
    seen: set[str] = set()
    for definition in definitions:
        if definition.record_key in seen:
            raise InvalidDefinition(f"{source}: {definition.key!r} is defined twice")
        seen.add(definition.record_key)
