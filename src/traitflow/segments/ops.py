"""Comparison operators shared by trait conditions and event property filters: one table.

Each operator is one entry of ``OPERATORS``: its name, the operand it takes, the rule it
applies (``evaluate``), what an absent value gives, and for relative dates the instants at
which time alone flips it. A condition compiles its operator and operand once (``Criterion``);
``fast`` predicates, where an operand allows one, give the rule's answers without its type
dispatch (a property test holds the two equal).

Every operator is total: a value of the wrong type makes it false, never an error. Relative
date operators are half-open intervals around ``now`` so that each has exact flip instants,
which time-driven membership relies on.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import re2

from traitflow.exceptions import InvalidDefinition

MISSING: Any = object()  # an absent trait or property (null counts as absent too)
UNIT_MS = {
    "seconds": 1_000,
    "minutes": 60_000,
    "hours": 3_600_000,
    "days": 86_400_000,
    "weeks": 604_800_000,
}
Predicate = Callable[[Any, int], bool]  # (a present value, now_ms) -> the answer
Evaluate = Callable[[Any, Any, int], bool]  # (a present value, operand, now_ms) -> the answer
_NUMBERS = (int, float)  # exact JSON types: bool is neither
MAX_PATTERN_CHARS = 1_000
MAX_SPAN_MS = 100 * 366 * UNIT_MS["days"]  # any span or window: 100 years at most
MAX_LIST_ITEMS = 10_000  # values of a list operand


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    takes: str  # the operand's kind, a key of _OPERAND_CHECKS
    evaluate: Evaluate  # the rule, for any operand
    when_missing: bool = False  # what an absent value gives: true for negative operators only
    fast: Callable[[Any], Predicate | None] = lambda operand: None
    flips: Callable[[int, int], tuple[int, ...]] | None = None  # (date, operand) -> instants
    aliases: tuple[str, ...] = ()

    def spellings(self) -> tuple[str, ...]:
        """The name, its spaced spelling (``not in``) and aliases (``==``)."""
        spaced = self.name.replace("_", " ")
        return (self.name, *((spaced,) if spaced != self.name else ()), *self.aliases)

    def check(self, value: Any, given: bool, unit: str | None, where: str) -> Any:
        """Refuse an operand that cannot work; return it in its evaluated form."""
        if self.takes == "none":
            if given:
                raise InvalidDefinition(f"{where}: op {self.name!r} takes no value; remove 'value'")
            return None
        if not given:
            raise InvalidDefinition(f"{where}: op {self.name!r} needs a value")
        wanted, convert = _OPERAND_CHECKS[self.takes]
        try:
            converted = convert(value, unit)
        except InvalidPattern as exc:
            raise InvalidDefinition(f"{where}: op {self.name!r}: {exc}") from None
        if converted is _REFUSED:
            raise InvalidDefinition(f"{where}: op {self.name!r} needs {wanted}, got {value!r}")
        return converted

    def compile(self, operand: Any) -> Predicate:
        fast = self.fast(operand)
        if fast is not None:
            return fast
        evaluate = self.evaluate
        return lambda actual, now_ms: evaluate(actual, operand, now_ms)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One operator with its operand, compiled once: what a condition or filter asks of a
    value."""

    op: Operator
    operand: Any
    predicate: Predicate = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "predicate", self.op.compile(self.operand))

    def holds(self, actual: Any, now_ms: int) -> bool:
        if actual is MISSING or actual is None:
            return self.op.when_missing
        return self.predicate(actual, now_ms)

    def flip_instants(self, actual: Any) -> tuple[int, ...]:
        """Instants at which time alone changes the answer for ``actual``."""
        if self.op.flips is None:
            return ()
        moment = parse_time_ms(actual)
        return () if moment is None else self.op.flips(moment, self.operand)

    def wanted(self) -> str:
        return self.op.name if self.operand is None else f"{self.op.name} {self.operand!r}"


def build_criterion(
    written: str, value: Any, given: bool, unit: str | None, where: str
) -> Criterion:
    """The ``Criterion`` a definition's ``op`` / ``value`` / ``unit`` ask for, checked."""
    op = operator_named(written, where)
    return Criterion(op, op.check(value, given, unit, where))


def operator_named(written: str, where: str = "op") -> Operator:
    found = _BY_SPELLING.get(written)
    if found is None:
        raise InvalidDefinition(f"{where}: unknown operator {written!r}")
    return found


# --- the rules -----------------------------------------------------------------------


def json_equal(actual: Any, expected: Any) -> bool:
    """JSON equality: numbers compare by value, but ``true`` never equals ``1``."""
    if is_number(actual) and is_number(expected):
        return bool(actual == expected)
    return type(actual) is type(expected) and bool(actual == expected)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_time_ms(value: Any) -> int | None:
    """Milliseconds since the epoch of an ISO-8601 date or date-time string, else None."""
    return _parse_time_ms(value) if isinstance(value, str) else None


@lru_cache(maxsize=8192)
def _parse_time_ms(value: str) -> int | None:
    """Cached: a profile's date traits are read again at every evaluation."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _comparable(actual: Any, operand: Any) -> bool:
    both_numbers = is_number(actual) and is_number(operand)
    return both_numbers or (isinstance(actual, str) and isinstance(operand, str))


def _ordering(compare: Callable[[Any, Any], bool]) -> Evaluate:
    return lambda actual, operand, _: _comparable(actual, operand) and compare(actual, operand)


def _fast_ordering(compare: Callable[[Any, Any], bool]) -> Callable[[Any], Predicate | None]:
    def fast(operand: Any) -> Predicate | None:
        if is_number(operand):
            return lambda actual, _: type(actual) in _NUMBERS and compare(actual, operand)
        return lambda actual, _: type(actual) is str and compare(actual, operand)

    return fast


def _between(actual: Any, operand: tuple[Any, Any], _: int) -> bool:
    low, high = operand
    return _comparable(actual, low) and _comparable(actual, high) and low <= actual <= high


def _fast_equal(operand: Any) -> Predicate | None:
    if isinstance(operand, bool):
        return lambda actual, _: actual is operand
    if is_number(operand):
        return lambda actual, _: type(actual) in _NUMBERS and actual == operand
    if isinstance(operand, str):
        return lambda actual, _: actual == operand
    return None


def _fast_not_equal(operand: Any) -> Predicate | None:
    equal = _fast_equal(operand)
    return None if equal is None else lambda actual, now_ms: not equal(actual, now_ms)


def _is_in(actual: Any, operand: tuple[Any, ...], _: int) -> bool:
    return any(json_equal(actual, item) for item in operand)


class ValueSet:
    """JSON values for membership tests in time independent of their number: strings,
    numbers (``1`` is ``1.0``) and booleans (never ``1``) hashed apart; only arrays and
    objects, rare in operands, are compared one by one."""

    __slots__ = ("booleans", "numbers", "others", "strings")

    def __init__(self, values: Iterable[Any]) -> None:
        strings, numbers, booleans, others = set(), set(), set(), []
        for value in values:
            kind = type(value)
            if kind is str:
                strings.add(value)
            elif kind is bool:
                booleans.add(value)
            elif kind in _NUMBERS:
                numbers.add(value)
            elif value is not None:
                others.append(value)
        self.strings, self.numbers = frozenset(strings), frozenset(numbers)
        self.booleans, self.others = frozenset(booleans), tuple(others)

    def __contains__(self, actual: Any) -> bool:
        kind = type(actual)
        if kind is str:
            return actual in self.strings
        if kind is bool:
            return actual in self.booleans
        if kind in _NUMBERS:
            return actual in self.numbers
        return any(json_equal(actual, other) for other in self.others)


def _fast_in(operand: tuple[Any, ...]) -> Predicate | None:
    if all(isinstance(item, str) for item in operand):
        strings = frozenset(operand)
        return lambda actual, _: type(actual) is str and actual in strings
    if all(is_number(item) for item in operand):
        numbers = frozenset(operand)
        return lambda actual, _: type(actual) in _NUMBERS and actual in numbers
    found = ValueSet(operand)
    null_listed = any(item is None for item in operand)
    return lambda actual, _: actual in found or (null_listed and actual is None)


def _fast_not_in(operand: tuple[Any, ...]) -> Predicate | None:
    is_in = _fast_in(operand)
    return None if is_in is None else lambda actual, now_ms: not is_in(actual, now_ms)


def _includes(quantifier: Callable[[Any], bool], none: bool = False) -> Evaluate:
    def evaluate(actual: Any, operand: tuple[Any, ...], _: int) -> bool:
        if not isinstance(actual, list):
            return none
        found = (any(json_equal(item, wanted) for item in actual) for wanted in operand)
        return quantifier(found) != none

    return evaluate


def _fast_includes(every: bool, none: bool = False) -> Callable[[Any], Predicate | None]:
    """``includes_any`` / ``_none`` look each of the trait's items up in the operand's
    set; ``includes_all`` each operand value up in the set of the trait's items: time in
    proportion to the two lengths added, not multiplied."""

    def fast(operand: tuple[Any, ...]) -> Predicate | None:
        if every:

            def all_of(actual: Any, _: int) -> bool:
                if not isinstance(actual, list):
                    return False
                items = ValueSet(actual)
                nulls = any(item is None for item in actual)
                return all(w in items or (nulls and w is None) for w in operand)

            return all_of
        wanted = ValueSet(operand)
        null_wanted = any(item is None for item in operand)

        def any_of(actual: Any, _: int) -> bool:
            if not isinstance(actual, list):
                return none
            found = any(i in wanted or (null_wanted and i is None) for i in actual)
            return found != none

        return any_of

    return fast


def _text(method: Callable[[str, str], bool]) -> Evaluate:
    return lambda actual, operand, _: isinstance(actual, str) and method(actual, operand)


def _fast_text(method: Callable[[str, str], bool]) -> Callable[[Any], Predicate | None]:
    return lambda operand: lambda actual, _: type(actual) is str and method(actual, operand)


@lru_cache(maxsize=1024)
def compiled_pattern(pattern: str) -> Any:
    """RE2: linear time in the text whatever the pattern, so no pattern can stall a
    worker (Python's ``re`` backtracks: ``(a+)+$`` takes exponential time)."""
    options = re2.Options()
    options.log_errors = False  # refusals are raised, not printed
    options.never_capture = True
    return re2.compile(pattern, options)


def _matches(actual: Any, operand: str, _: int) -> bool:
    return isinstance(actual, str) and compiled_pattern(operand).search(actual) is not None


def _fast_matches(operand: str) -> Predicate | None:
    search = compiled_pattern(operand).search
    return lambda actual, _: type(actual) is str and search(actual) is not None


def _date(rule: Callable[[int, int, int], bool]) -> Evaluate:
    def evaluate(actual: Any, operand: int, now_ms: int) -> bool:
        moment = parse_time_ms(actual)
        return moment is not None and rule(moment, operand, now_ms)

    return evaluate


def _negated(evaluate: Evaluate) -> Evaluate:
    return lambda actual, operand, now_ms: not evaluate(actual, operand, now_ms)


def _always(answer: bool) -> Evaluate:
    return lambda actual, operand, now_ms: answer


# --- operands ------------------------------------------------------------------------

_REFUSED: Any = object()


def _orderable(value: Any) -> bool:
    return is_number(value) or isinstance(value, str)


def _as_list(value: Any, unit: str | None) -> Any:
    ok = isinstance(value, list) and len(value) <= MAX_LIST_ITEMS
    return tuple(value) if ok else _REFUSED


def _as_range(value: Any, unit: str | None) -> Any:
    ok = isinstance(value, list) and len(value) == 2 and all(map(_orderable, value))
    return tuple(value) if ok else _REFUSED


def _as_date(value: Any, unit: str | None) -> Any:
    moment = parse_time_ms(value)
    return _REFUSED if moment is None else moment


def _as_pattern(value: Any, unit: str | None) -> Any:
    if not isinstance(value, str) or len(value) > MAX_PATTERN_CHARS:
        return _REFUSED
    try:
        compiled_pattern(value)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidPattern(f"{value!r} is not a pattern RE2 accepts: {reason}") from None
    return value


class InvalidPattern(ValueError):
    """A ``matches`` operand RE2 refuses (a back-reference, a look-around, bad syntax)."""


def _as_duration(value: Any, unit: str | None) -> Any:
    if not is_number(value) or not 0 <= value * UNIT_MS[unit or "days"] <= MAX_SPAN_MS:
        return _REFUSED
    return int(value * UNIT_MS[unit or "days"])


def span_ms(amount: Any, unit: str | None, where: str) -> int:
    """A span (a window, a gap, "less than N units ago") in milliseconds: a number >= 0
    of at most 100 years, or ``InvalidDefinition`` saying so (a span of 1e300 days
    would overflow every instant it is added to)."""
    unit = unit or "days"
    if not is_number(amount) or not math.isfinite(amount) or amount < 0:
        raise InvalidDefinition(f"{where}: a span must be a number >= 0, got {amount!r}")
    if amount * UNIT_MS[unit] > MAX_SPAN_MS:
        raise InvalidDefinition(
            f"{where}: {amount:g} {unit} is longer than 100 years, the longest span allowed"
        )
    return int(amount * UNIT_MS[unit])


_OPERAND_CHECKS: dict[str, tuple[str, Callable[[Any, str | None], Any]]] = {
    "any": ("a value", lambda value, unit: value),
    "list": (f"a list value (at most {MAX_LIST_ITEMS:,} items)", _as_list),
    "range": ("[low, high]", _as_range),
    "orderable": ("a number or a string", lambda v, unit: v if _orderable(v) else _REFUSED),
    "text": ("a string value", lambda v, unit: v if isinstance(v, str) else _REFUSED),
    "date": ("an ISO-8601 date", _as_date),
    "duration": ("a number >= 0, at most 100 years", _as_duration),
    "pattern": (f"a regular expression of at most {MAX_PATTERN_CHARS} characters", _as_pattern),
}

# --- the table -----------------------------------------------------------------------


def _equal(actual: Any, operand: Any, _: int) -> bool:
    return json_equal(actual, operand)


_ORDERINGS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TEXTS = {"contains": str.__contains__, "starts_with": str.startswith, "ends_with": str.endswith}

OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("=", "any", _equal, fast=_fast_equal, aliases=("==",)),
        Operator("!=", "any", _negated(_equal), True, fast=_fast_not_equal),
        *(
            Operator(name, "orderable", _ordering(compare), fast=_fast_ordering(compare))
            for name, compare in _ORDERINGS.items()
        ),
        Operator("between", "range", _between),
        Operator("in", "list", _is_in, fast=_fast_in),
        Operator("not_in", "list", _negated(_is_in), True, fast=_fast_not_in),
        *(
            Operator(name, "text", _text(method), fast=_fast_text(method))
            for name, method in _TEXTS.items()
        ),
        Operator("matches", "pattern", _matches, fast=_fast_matches),
        Operator("exists", "none", _always(True)),
        Operator("not_exists", "none", _always(False), True),
        Operator("includes_any", "list", _includes(any), fast=_fast_includes(False)),
        Operator("includes_all", "list", _includes(all), fast=_fast_includes(True)),
        Operator(
            "includes_none",
            "list",
            _includes(any, none=True),
            True,
            fast=_fast_includes(False, none=True),
        ),
        Operator("before", "date", _date(lambda moment, operand, now: moment < operand)),
        Operator("after", "date", _date(lambda moment, operand, now: moment > operand)),
        Operator(
            "within_last",
            "duration",
            _date(lambda moment, operand, now: moment <= now < moment + operand),
            flips=lambda moment, operand: (moment, moment + operand),
        ),
        Operator(
            "within_next",
            "duration",
            _date(lambda moment, operand, now: moment - operand < now <= moment),
            flips=lambda moment, operand: (moment - operand + 1, moment + 1),
        ),
        Operator(
            "more_than_ago",
            "duration",
            _date(lambda moment, operand, now: now > moment + operand),
            flips=lambda moment, operand: (moment + operand + 1,),
        ),
    )
}
_BY_SPELLING = {spelling: op for op in OPERATORS.values() for spelling in op.spellings()}
SPELLINGS = frozenset(_BY_SPELLING)
