"""The first condition set: comparisons on traits, combined with and / or."""

from typing import Any

import pytest

from traitflow.exceptions import InvalidDefinition
from traitflow.profiles import Profile
from traitflow.segments import Registry, build_condition
from traitflow.segments.engine import ProfileContext
from traitflow.segments.features import TimesFeature
from traitflow.segments.matchers import EventMatcher, build_matcher
from traitflow.segments.ops import OPERATORS


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


OPERANDS: dict[str, Any] = {
    "between": [1, 2], "in": ["a"], "not_in": ["a"], "includes_any": ["a"],
    "includes_all": ["a"], "includes_none": ["a"], "contains": "a", "starts_with": "a",
    "ends_with": "a", "matches": "a", "before": "2026-01-01", "after": "2026-01-01",
    "within_last": 1, "within_next": 1, "more_than_ago": 1, "exists": None, "not_exists": None,
}  # fmt: skip


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_a_missing_value_answers_alike_for_traits_and_event_filters(op: str) -> None:
    """One rule: an absent trait and an absent event property satisfy the same operators
    (the negative ones: ``when_missing``), whatever the operator."""
    operand = OPERANDS.get(op, 1)
    value = {} if operand is None else {"value": operand}
    trait = matches({"trait": "plan", "op": op, **value}, {})
    where = {"property": "plan", "op": op, **value}
    matcher = build_matcher({"event": "Viewed", "where": [where]}, "test")
    event = matcher.matches({"type": "track", "event": "Viewed", "properties": {}}, 0)
    assert trait == event == OPERATORS[op].when_missing


def test_first_and_last_times_flip_exactly_when_their_span_runs_out() -> None:
    feature = TimesFeature(EventMatcher(("track",), "Order Completed", ()))
    state = feature.update(feature.update(None, 5_000), 1_000)  # out of order: earliest wins
    assert state == [1_000, 5_000]
    assert feature.merge(state, [500, 2_000]) == [500, 5_000]
    assert feature.merge(None, state) == state

    def at(now: int, times: list[int] | None) -> Any:
        class Ctx:
            now_ms = now

            def times(self, _: TimesFeature) -> tuple[int, int] | None:
                return None if times is None else (times[0], times[1])

        return Ctx()

    new = build_condition(
        {"event": "Order Completed", "first": {"less_than": 2, "unit": "seconds"}}
    )
    lapsed = build_condition(
        {"event": "Order Completed", "last": {"more_than": 2, "unit": "seconds"}}
    )
    assert new.matches(at(2_999, state)) and not new.matches(at(3_000, state))
    assert new.next_flip(at(2_999, state))[0] == 3_000  # type: ignore[index]
    assert not lapsed.matches(at(6_999, state)) and lapsed.matches(at(7_000, state))
    assert lapsed.next_flip(at(7_000, state)) is None
    assert not new.matches(at(0, None)) and not lapsed.matches(at(10**12, None))  # never did it
    assert "first done never; wanted less than 2 seconds ago" in new.explain(at(0, None)).text


def test_one_computed_trait_against_a_factor_of_another() -> None:
    class Ctx:
        now_ms = 0

        def __init__(self, **values: Any) -> None:
            self.values = values

        def computed(self, key: str) -> Any:
            return self.values.get(key)

        def computed_expiries(self, key: str) -> list[int]:
            return {"recent": [5, 50], "before": [20]}.get(key, [])

    falling = build_condition({"computed": "recent", "op": "<", "other": "before", "factor": 0.5})
    assert falling.matches(Ctx(recent=2, before=10)) and not falling.matches(
        Ctx(recent=5, before=10)
    )
    assert not falling.matches(Ctx(recent=0, before=None))  # no average yet: not a number
    assert falling.deps() == {("computed", "recent"), ("computed", "before")}
    assert falling.next_flip(Ctx(recent=2, before=10))[0] == 5  # type: ignore[index]
    why = falling.explain(Ctx(recent=2, before=10)).text
    assert why == "computed recent = 2; wanted < 0.5 x computed before = 10"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"computed": "a", "op": "<", "other": "b", "value": 3}, "takes the place of 'value'"),
        ({"computed": "a", "op": "<", "factor": 2}, "'other' names the computed trait"),
        ({"computed": "a", "op": "contains", "other": "b"}, "cannot compare two computed"),
    ],
)
def test_comparing_two_computed_traits_refuses_what_it_cannot_mean(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidDefinition, match=message):
        build_condition(spec)


def test_a_sequence_explains_which_step_a_person_is_at_and_what_it_waits_for() -> None:
    funnel = build_condition({"sequence": {
        "steps": [{"event": "Pricing Viewed"}, {"event": "Checkout Started",
                                                 "within": {"last": 1, "unit": "hours"}}],
        "not_followed_by": {"event": "Order Completed", "within": {"last": 1, "unit": "days"}},
    }})  # fmt: skip
    hour, day = 3_600_000, 86_400_000

    class Ctx:
        def __init__(self, now: int, **done: list[int]) -> None:
            self.now_ms, self.done = now, done
            self.memo: dict[int, Any] = {}

        def recent(self, feature: Any) -> list[int]:
            return self.done.get(feature.matcher.name.split()[0].lower(), [])

    nothing = funnel.explain(Ctx(0)).text
    assert nothing == "at step 0 of 2: waiting for 'Pricing Viewed'"
    waiting = funnel.explain(Ctx(hour, pricing=[0])).text
    assert waiting.startswith("at step 1 of 2 (1970-01-01T00:00:00.000Z): waiting for")
    assert waiting.endswith("'Checkout Started' until 1970-01-01T01:00:00.000Z")
    inside = Ctx(2 * hour, pricing=[0], checkout=[hour])
    assert funnel.matches(inside)
    assert funnel.explain(inside).text.endswith("in until 1970-01-02T01:00:00.000Z")
    assert not funnel.matches(Ctx(2 * hour, pricing=[0], checkout=[hour], order=[hour + 1]))
    assert not funnel.matches(Ctx(hour + day, pricing=[0], checkout=[hour]))  # deadline passed
    assert not funnel.matches(Ctx(3 * hour, pricing=[0], checkout=[2 * hour]))  # gap too long
    assert funnel.explain(Ctx(3 * hour, pricing=[0])).text.endswith(
        "'Checkout Started' did not come by 1970-01-01T01:00:00.000Z; waiting for a new run"
    )


def test_a_sequence_run_must_fit_its_conversion_window() -> None:
    hour = 3_600_000
    funnel = build_condition({"sequence": {
        "steps": [{"event": "Pricing Viewed"}, {"event": "Checkout Started"}],
        "within": {"last": 2, "unit": "hours"},
    }})  # fmt: skip

    class Ctx:
        def __init__(self, **done: list[int]) -> None:
            self.now_ms, self.done = 10 * hour, done
            self.memo: dict[int, Any] = {}

        def recent(self, feature: Any) -> list[int]:
            return self.done.get(feature.matcher.name.split()[0].lower(), [])

    assert funnel.matches(Ctx(pricing=[5 * hour, 0], checkout=[6 * hour]))  # the later start
    assert not funnel.matches(Ctx(pricing=[0], checkout=[6 * hour]))  # six hours: too long
    assert not funnel.matches(Ctx(pricing=[7 * hour], checkout=[6 * hour]))  # out of order
    assert funnel.next_flip(Ctx(pricing=[0], checkout=[11 * hour])) == (11 * hour, funnel.text)  # type: ignore[attr-defined]
