"""The operator table: each operator's compiled predicate gives its rule's answers, operands
are checked once, and every spelling is known to the docs and the schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traitflow.exceptions import InvalidDefinition
from traitflow.segments.ops import (
    MISSING,
    OPERATORS,
    SPELLINGS,
    Criterion,
    build_criterion,
    operator_named,
)

DOCS = Path(__file__).parents[2] / "docs" / "segments.md"
NOW = 1_764_000_000_000

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False),
    st.sampled_from(["a", "b", "ab", "", "2026-01-01", "2025-11-24T16:00:00Z"]),
)  # fmt: skip
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.just("k"), scalars))
orderables = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), st.sampled_from("ab"))
OPERANDS: dict[str, st.SearchStrategy[Any]] = {
    "any": values,
    "list": st.lists(st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=4),
    "range": st.lists(orderables, min_size=2, max_size=2),
    "orderable": orderables,
    "text": st.sampled_from(["a", "b", ""]),
    "date": st.sampled_from(["2026-01-01", "2025-11-24T16:00:00Z"]),
    "duration": st.integers(0, 3),
    "pattern": st.sampled_from(["a", "^a", "b$", "a.b", "", "^(a|b)+$", "[0-9]"]),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
@given(data=st.data())
def test_a_compiled_predicate_answers_as_the_rule(name: str, data: st.DataObject) -> None:
    """The fast paths (sets of strings, typed comparisons) change speed, never answers:
    ``true`` is not ``1``, ``1`` is ``1.0``, a string never orders against a number."""
    op = OPERATORS[name]
    operand = None if op.takes == "none" else data.draw(OPERANDS[op.takes])
    test = Criterion(op, op.check(operand, op.takes != "none", "days", "test"))
    actual = data.draw(values)
    if actual is None:
        assert test.holds(actual, NOW) is op.when_missing
    else:
        assert test.holds(actual, NOW) == op.evaluate(actual, test.operand, NOW)


def test_the_fast_paths_are_taken_where_they_apply() -> None:
    """Otherwise the property test above would compare the rule with itself."""
    for name, operand in [("=", "a"), ("=", 1), ("=", True), ("in", ("a",)), ("in", (1, 2.5)),
                          ("<", 3), ("<", "b"), ("contains", "a"), ("!=", "a")]:  # fmt: skip
        op = OPERATORS[name]
        assert op.fast(operand) is not None, name
    mixed = ("a", 1, True, None, [1], {"k": "a"})  # sets of each type; containers one by one
    for name in ("in", "not_in", "includes_any", "includes_all", "includes_none"):
        assert OPERATORS[name].fast(mixed) is not None, name


@pytest.mark.parametrize(
    ("op", "actual", "operand", "expected"),
    [("=", True, 1, False), ("=", 1, 1.0, True), ("in", True, (1,), False),
     ("in", 1.0, (1, 2), True), ("<", "1", 2, False), ("not_in", 2, (1,), True),
     ("starts_with", 5, "5", False), ("includes_none", "a", ("a",), True)],
)  # fmt: skip
def test_json_values_compare_by_json_rules(
    op: str, actual: Any, operand: Any, expected: bool
) -> None:
    assert Criterion(OPERATORS[op], operand).holds(actual, NOW) is expected


def test_absent_and_null_give_the_operators_missing_answer() -> None:
    for name, op in OPERATORS.items():
        operand = None if op.takes == "none" else op.check(_sample(op.takes), True, None, "t")
        test = Criterion(op, operand)
        assert test.holds(MISSING, NOW) is test.holds(None, NOW) is op.when_missing, name


def _sample(takes: str) -> Any:
    samples = {"list": ["a"], "range": [1, 2], "date": "2026-01-01", "duration": 1}
    return samples.get(takes, "a")


def test_spellings_and_aliases_name_one_operator() -> None:
    assert operator_named("not in") is operator_named("not_in")
    assert operator_named("==") is operator_named("=")
    with pytest.raises(InvalidDefinition, match="unknown operator '<>'"):
        operator_named("<>")


@pytest.mark.parametrize(
    ("op", "value", "error"),
    [("exists", 1, "takes no value"), ("in", "a", "needs a list value"),
     ("between", [1], r"needs \[low, high\]"), ("<", [1], "needs a number or a string"),
     ("before", "soon", "needs an ISO-8601 date"), ("within_last", -1, "needs a number >= 0"),
     ("contains", 3, "needs a string value"), ("matches", "(a)\\1", "not a pattern RE2 accepts"),
     ("matches", "(", "missing \\)"), ("matches", "x" * 1001, "at most 1000 characters")],
)  # fmt: skip
def test_an_unworkable_operand_is_refused_with_what_it_needs(
    op: str, value: Any, error: str
) -> None:
    with pytest.raises(InvalidDefinition, match=error):
        build_criterion(op, value, True, None, "condition")
    if op != "exists":
        with pytest.raises(InvalidDefinition, match="needs a value"):
            build_criterion(op, None, False, None, "condition")


def test_relative_dates_flip_at_exact_instants_and_others_never() -> None:
    day = 86_400_000
    last = build_criterion("within_last", 7, True, "days", "t")
    assert last.flip_instants("1970-01-02") == (day, 8 * day)
    assert last.flip_instants("not a date") == ()
    assert build_criterion("=", "a", True, None, "t").flip_instants("1970-01-02") == ()


def test_the_docs_table_names_every_operator_and_alias() -> None:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([^`]+)`", row.split(" | ")[0])}
    aliases = {alias for op in OPERATORS.values() for alias in op.aliases}
    assert set(OPERATORS) | aliases <= documented
    spaced = {spelling for spelling in SPELLINGS if " " in spelling}
    assert spaced == {name.replace("_", " ") for name in OPERATORS if "_" in name}


def test_matches_searches_with_re2_in_linear_time() -> None:
    """``(a+)+$`` against a long run of ``a`` then ``b`` takes Python's ``re`` longer than
    any test timeout (it backtracks exponentially); RE2 answers at once."""
    evil = build_criterion("matches", "(a+)+$", True, None, "t")
    assert not evil.holds("a" * 5_000 + "b", NOW)
    assert evil.holds("aaa", NOW)
    domain = build_criterion("matches", r"@(acme\.com|acme\.io)$", True, None, "t")
    assert domain.holds("ada@acme.io", NOW) and not domain.holds("ada@acme.iox", NOW)
    assert not domain.holds(42, NOW)
