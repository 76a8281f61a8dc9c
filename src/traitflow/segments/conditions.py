"""The condition language: trait comparisons combined with AND / OR.

A missing trait satisfies only ``not_exists`` and ``!=``; ordering comparisons hold only
between two numbers or two strings, so ``"10" > 9`` is false rather than an error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from traitflow.exceptions import InvalidDefinition

_MISSING = object()

_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_VALUE_OPS = {"=", "!=", "in", "not_in", *_ORDERINGS}


class Condition(Protocol):
    def matches(self, traits: Mapping[str, Any]) -> bool: ...

    def traits(self) -> frozenset[str]:
        """Top-level trait names whose change can change the answer."""
        ...


@dataclass(frozen=True, slots=True)
class TraitCondition:
    path: tuple[str, ...]
    op: str
    value: Any = None

    def matches(self, traits: Mapping[str, Any]) -> bool:
        actual = lookup(traits, self.path)
        if actual is _MISSING:
            return self.op in ("not_exists", "!=")
        return _compare(self.op, actual, self.value)

    def traits(self) -> frozenset[str]:
        return frozenset(self.path[:1])


@dataclass(frozen=True, slots=True)
class Combination:
    """``and`` (every part holds) or ``or`` (some part holds)."""

    parts: tuple[Condition, ...]
    every: bool

    def matches(self, traits: Mapping[str, Any]) -> bool:
        quantifier = all if self.every else any
        return quantifier(part.matches(traits) for part in self.parts)

    def traits(self) -> frozenset[str]:
        return frozenset().union(*(part.traits() for part in self.parts))


def lookup(traits: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path, or a sentinel when absent (null counts as absent)."""
    value: Any = traits
    for name in path:
        if not isinstance(value, Mapping) or name not in value:
            return _MISSING
        value = value[name]
    return _MISSING if value is None else value


def build_condition(spec: Mapping[str, Any], where: str = "condition") -> Condition:
    """Turn a schema-valid condition into objects, checking what the schema cannot."""
    if "and" in spec:
        return Combination(_build_parts(spec["and"], f"{where}.and"), every=True)
    if "or" in spec:
        return Combination(_build_parts(spec["or"], f"{where}.or"), every=False)
    op, value = spec["op"], spec.get("value")
    _check_value(op, value, "value" in spec, where)
    path = tuple(spec["trait"].split("."))
    if op in ("in", "not_in"):
        value = tuple(value or ())
    return TraitCondition(path, op, value)


def _build_parts(specs: list[Mapping[str, Any]], where: str) -> tuple[Condition, ...]:
    return tuple(build_condition(spec, f"{where}[{i}]") for i, spec in enumerate(specs))


def _check_value(op: str, value: Any, given: bool, where: str) -> None:
    if op in _VALUE_OPS and not given:
        raise InvalidDefinition(f"{where}: op {op!r} needs a value")
    if op not in _VALUE_OPS and given:
        raise InvalidDefinition(f"{where}: op {op!r} takes no value; remove 'value'")
    if op in ("in", "not_in") and not isinstance(value, list):
        raise InvalidDefinition(f"{where}: op {op!r} needs a list value, got {value!r}")
    if op in _ORDERINGS and not (_is_number(value) or isinstance(value, str)):
        raise InvalidDefinition(f"{where}: op {op!r} needs a number or a string, got {value!r}")


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return True
    if op == "not_exists":
        return False
    if op in ("=", "!="):
        return _equal(actual, expected) == (op == "=")
    if op in ("in", "not_in"):
        return any(_equal(actual, item) for item in expected) == (op == "in")
    if (_is_number(actual) and _is_number(expected)) or _both_strings(actual, expected):
        return _ORDERINGS[op](actual, expected)
    return False


def _equal(actual: Any, expected: Any) -> bool:
    """JSON equality: numbers compare by value, but ``true`` never equals ``1``."""
    if _is_number(actual) and _is_number(expected):
        return bool(actual == expected)
    return type(actual) is type(expected) and bool(actual == expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _both_strings(actual: Any, expected: Any) -> bool:
    return isinstance(actual, str) and isinstance(expected, str)
