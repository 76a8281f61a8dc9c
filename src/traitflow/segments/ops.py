"""Comparison operators shared by trait conditions and event property filters.

Every operator is total: a value of the wrong type makes it false, never an error. Relative
date operators are half-open intervals around ``now`` so that each has exact flip instants
(``flip_instants``), which time-driven membership relies on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from traitflow.exceptions import InvalidDefinition

UNIT_MS = {
    "seconds": 1_000,
    "minutes": 60_000,
    "hours": 3_600_000,
    "days": 86_400_000,
    "weeks": 604_800_000,
}
ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
PRESENCE = {"exists", "not_exists"}
LISTS = {"in", "not_in", "includes_any", "includes_all", "includes_none"}
TEXT = {"contains", "starts_with", "ends_with"}
ABSOLUTE_DATES = {"before", "after"}
RELATIVE_DATES = {"within_last", "within_next", "more_than_ago"}
ALL_OPS = (
    {"=", "!=", "between", *ORDERINGS} | PRESENCE | LISTS | TEXT | ABSOLUTE_DATES | RELATIVE_DATES
)
ALIASES = {"==": "=", "<>": "!="}
# What an absent (or null) trait or property satisfies: every negative operator, and only
# those. One rule for trait conditions, computed traits and event filters alike.
HOLD_WHEN_MISSING = frozenset({"not_exists", "!=", "not_in", "includes_none"})


def canonical_op(op: str) -> str:
    """``not in`` and ``not_in`` are the same operator; so are ``==`` and ``=``."""
    op = ALIASES.get(op, op)
    return op.strip().replace(" ", "_")


def check_operand(op: str, value: Any, given: bool, unit: str | None, where: str) -> Any:
    """Refuse operands that cannot work; return the operand in its evaluated form."""
    if op in PRESENCE:
        if given:
            raise InvalidDefinition(f"{where}: op {op!r} takes no value; remove 'value'")
        return None
    if not given:
        raise InvalidDefinition(f"{where}: op {op!r} needs a value")
    if op in LISTS:
        if not isinstance(value, list):
            raise InvalidDefinition(f"{where}: op {op!r} needs a list value, got {value!r}")
        return tuple(value)
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(map(_orderable, value))):
            raise InvalidDefinition(f"{where}: op 'between' needs [low, high], got {value!r}")
        return tuple(value)
    if op in ORDERINGS and not _orderable(value):
        raise InvalidDefinition(f"{where}: op {op!r} needs a number or a string, got {value!r}")
    if op in TEXT and not isinstance(value, str):
        raise InvalidDefinition(f"{where}: op {op!r} needs a string value, got {value!r}")
    if op in ABSOLUTE_DATES:
        moment = parse_time_ms(value)
        if moment is None:
            raise InvalidDefinition(f"{where}: op {op!r} needs an ISO-8601 date, got {value!r}")
        return moment
    if op in RELATIVE_DATES:
        if not is_number(value) or value < 0:
            raise InvalidDefinition(f"{where}: op {op!r} needs a number >= 0, got {value!r}")
        return int(value * UNIT_MS[unit or "days"])
    return value


def compare(op: str, actual: Any, operand: Any, now_ms: int) -> bool:
    """``actual op operand``; ``actual`` is never missing here (``Comparison.matches``
    answers for a missing value)."""
    if op in PRESENCE:
        return op == "exists"
    if op in ("=", "!="):
        return json_equal(actual, operand) == (op == "=")
    if op in LISTS:
        return _list_op(op, actual, operand)
    if op in ORDERINGS:
        return _comparable(actual, operand) and ORDERINGS[op](actual, operand)
    if op == "between":
        low, high = operand
        return _comparable(actual, low) and _comparable(actual, high) and low <= actual <= high
    if op in TEXT:
        return isinstance(actual, str) and getattr(str, _TEXT_METHODS[op])(actual, operand)
    return _date_op(op, parse_time_ms(actual), operand, now_ms)


def flip_instants(op: str, actual: Any, operand: Any) -> tuple[int, ...]:
    """Instants at which a relative-date comparison changes answer with time alone."""
    moment = parse_time_ms(actual) if op in RELATIVE_DATES else None
    if moment is None:
        return ()
    if op == "within_last":
        return (moment, moment + operand)
    if op == "within_next":
        return (moment - operand + 1, moment + 1)
    return (moment + operand + 1,)


def json_equal(actual: Any, expected: Any) -> bool:
    """JSON equality: numbers compare by value, but ``true`` never equals ``1``."""
    if is_number(actual) and is_number(expected):
        return bool(actual == expected)
    return type(actual) is type(expected) and bool(actual == expected)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_time_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of an ISO-8601 date or date-time string, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


_TEXT_METHODS = {"contains": "__contains__", "starts_with": "startswith", "ends_with": "endswith"}


def _orderable(value: Any) -> bool:
    return is_number(value) or isinstance(value, str)


def _comparable(actual: Any, operand: Any) -> bool:
    both_numbers = is_number(actual) and is_number(operand)
    return both_numbers or (isinstance(actual, str) and isinstance(operand, str))


def _list_op(op: str, actual: Any, operand: tuple[Any, ...]) -> bool:
    if op in ("in", "not_in"):
        return any(json_equal(actual, item) for item in operand) == (op == "in")
    if not isinstance(actual, list):
        return op == "includes_none"
    present = [any(json_equal(item, wanted) for item in actual) for wanted in operand]
    if op == "includes_any":
        return any(present)
    if op == "includes_all":
        return all(present)
    return not any(present)


def _date_op(op: str, moment: int | None, operand: int, now_ms: int) -> bool:
    if moment is None:
        return False
    if op == "before":
        return moment < operand
    if op == "after":
        return moment > operand
    if op == "within_last":
        return moment <= now_ms < moment + operand
    if op == "within_next":
        return moment - operand < now_ms <= moment
    if op == "more_than_ago":
        return now_ms > moment + operand
    raise ValueError(f"unknown operator {op!r}")  # refused at apply time: never reached
