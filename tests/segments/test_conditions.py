"""The first condition set: comparisons on traits, combined with and / or."""

from typing import Any

import pytest

from traitflow.exceptions import InvalidDefinition
from traitflow.profiles import Profile
from traitflow.segments import Registry, build_condition
from traitflow.segments.engine import ProfileContext


def matches(spec: dict[str, Any], traits: dict[str, Any]) -> bool:
    context = ProfileContext(Profile("u1", traits=traits), Registry(), 0)
    return build_condition(spec).matches(context)


@pytest.mark.parametrize(
    ("op", "value", "traits", "expected"),
    [
        ("=", "trial", {"plan": "trial"}, True),
        ("=", "trial", {"plan": "paid"}, False),
        ("=", 1, {"plan": 1.0}, True),
        ("=", 1, {"plan": True}, False),
        ("!=", "trial", {"plan": "paid"}, True),
        ("!=", "trial", {}, True),
        ("=", "trial", {}, False),
        ("in", ["monthly", "annual"], {"plan": "annual"}, True),
        ("in", ["monthly", "annual"], {"plan": "trial"}, False),
        ("not_in", ["monthly"], {"plan": "trial"}, True),
        (">=", 1000, {"plan": 1000}, True),
        (">", 1000, {"plan": 999.5}, False),
        ("<", 10, {"plan": "5"}, False),
        ("<", "b", {"plan": "a"}, True),
        (">", 0, {"plan": True}, False),
        ("exists", None, {"plan": "x"}, True),
        ("exists", None, {"plan": None}, False),
        ("not_exists", None, {}, True),
    ],
)
def test_trait_operators(op: str, value: Any, traits: dict[str, Any], expected: bool) -> None:
    spec: dict[str, Any] = {"trait": "plan", "op": op}
    if op not in ("exists", "not_exists"):
        spec["value"] = value
    assert matches(spec, traits) is expected


def test_dotted_paths_reach_nested_traits() -> None:
    spec = {"trait": "address.country", "op": "=", "value": "FR"}
    assert matches(spec, {"address": {"country": "FR"}})
    assert not matches(spec, {"address": "FR"})
    assert build_condition(spec).deps() == {("trait", "address")}


def test_and_or_combine_and_report_every_trait_read() -> None:
    spec = {
        "and": [
            {"trait": "plan", "op": "=", "value": "annual"},
            {"or": [{"trait": "ltv", "op": ">=", "value": 1000}, {"trait": "vip", "op": "exists"}]},
        ]
    }
    assert matches(spec, {"plan": "annual", "vip": True})
    assert not matches(spec, {"plan": "annual", "ltv": 10})
    assert build_condition(spec).deps() == {("trait", "plan"), ("trait", "ltv"), ("trait", "vip")}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"trait": "plan", "op": "="}, "needs a value"),
        ({"trait": "plan", "op": "exists", "value": 1}, "takes no value"),
        ({"trait": "plan", "op": "in", "value": "trial"}, "needs a list"),
        ({"trait": "plan", "op": ">", "value": [1]}, "number or a string"),
    ],
)
def test_semantic_errors_name_the_problem(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDefinition, match=message):
        build_condition(spec)
