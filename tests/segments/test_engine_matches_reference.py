"""Property: the incremental engine and the reference evaluator give identical timelines.

Random message sequences (out of order, several people, identify/track/page with traits,
properties and dates) meet random definitions (every condition kind, nested, referencing
each other). The engine evaluates only what its indexes and due instants say; the
reference re-derives everything from history at every message.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traitflow.ingest.messages import Message, parse_message
from traitflow.segments import Registry, computed_from_spec, segment_from_spec
from traitflow.segments.pipeline import process
from traitflow.segments.reference import Flip, reference_flips
from traitflow.timeutil import iso_from_ms

BASE = 1_795_420_800_000  # 2026-11-23T08:00:00Z
HOUR = 3_600_000
PEOPLE = ["ann", "bob"]
EVENTS = ["Signed Up", "Pricing Viewed", "Order Completed"]
PAGES = ["Home", "Pricing"]

COMPUTED = [
    {"key": "spend", "event": "Order Completed", "aggregate": "sum", "property": "amount"},
    {"key": "spend_week", "event": "Order Completed", "aggregate": "sum", "property": "amount",
     "within": {"last": 7, "unit": "days"}},
    {"key": "orders_2d", "event": "Order Completed", "aggregate": "count",
     "within": {"last": 2, "unit": "days"}},
    {"key": "avg_order", "event": "Order Completed", "aggregate": "avg", "property": "amount"},
    {"key": "top_kind", "event": "Order Completed", "aggregate": "most_frequent",
     "property": "kind"},
    {"key": "kinds", "event": "Order Completed", "aggregate": "unique_count", "property": "kind"},
    {"key": "last_kind", "event": "Order Completed", "aggregate": "last", "property": "kind",
     "within": {"last": 3, "unit": "days"}},
    {"key": "first_amount", "event": "Order Completed", "aggregate": "first", "property": "amount"},
    {"key": "visits_2d", "event": "$visit", "aggregate": "count", "within": {"last": 2}},
    {"key": "sessions_3d", "event": "$activity", "aggregate": "visits", "within": {"last": 3},
     "session_gap": 120},
    {"key": "minutes_2d", "event": "$activity", "aggregate": "minutes", "within": {"last": 2},
     "session_gap": 300},
    {"key": "minutes_before", "event": "$activity", "aggregate": "minutes",
     "within": {"from_ago": 4, "to_ago": 1}, "session_gap": 180},
    {"key": "visits_2d_before", "event": "$visit", "aggregate": "count",
     "within": {"from_ago": 4, "to_ago": 2}},
    {"key": "spend_prev_day", "event": "Order Completed", "aggregate": "sum", "property": "amount",
     "within": {"from_ago": 48, "to_ago": 24, "unit": "hours"}},
]  # fmt: skip


def stamp(offset_hours: int) -> str:
    return iso_from_ms(BASE + offset_hours * HOUR)


trait_leaf = st.one_of(
    st.builds(
        lambda v: {"trait": "plan", "op": "=", "value": v}, st.sampled_from(["trial", "paid"])
    ),
    st.builds(
        lambda v: {"trait": "plan", "op": "in", "value": v},
        st.lists(st.sampled_from(["trial", "paid", "free"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, v: {"trait": "ltv", "op": op, "value": v},
        st.sampled_from(["<", ">=", "!="]),
        st.integers(0, 100),
    ),
    st.builds(
        lambda lo, w: {"trait": "ltv", "op": "between", "value": [lo, lo + w]},
        st.integers(0, 80),
        st.integers(0, 40),
    ),
    st.builds(lambda op: {"trait": "email", "op": op}, st.sampled_from(["exists", "not_exists"])),
    st.builds(
        lambda op, v: {"trait": "email", "op": op, "value": v},
        st.sampled_from(["contains", "ends_with", "starts_with"]),
        st.sampled_from(["@a.com", "x", "ann"]),
    ),
    st.builds(
        lambda v: {"trait": "email", "op": "matches", "value": v},
        st.sampled_from([r"^ann@", r"\.com$", "(a|x)@"]),
    ),
    st.builds(
        lambda op, v: {"trait": "tags", "op": op, "value": v},
        st.sampled_from(["includes_any", "includes_all", "includes_none"]),
        st.lists(st.sampled_from(["vip", "beta", "churn"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, n, u: {"trait": "trial_end", "op": op, "value": n, "unit": u},
        st.sampled_from(["within_last", "within_next", "more_than_ago"]),
        st.integers(0, 5),
        st.sampled_from(["hours", "days"]),
    ),
    st.builds(
        lambda op, h: {"trait": "trial_end", "op": op, "value": stamp(h)},
        st.sampled_from(["before", "after"]),
        st.integers(-48, 300),
    ),
    st.builds(
        lambda op, v: {"trait": "$country", "op": op, "value": v},
        st.sampled_from(["=", "!="]),
        st.sampled_from(["FR", "US"]),
    ),
    st.builds(
        lambda n: {"trait": "$last_seen", "op": "within_last", "value": n, "unit": "days"},
        st.integers(1, 5),
    ),
    st.builds(
        lambda v: {"trait": "address.country", "op": "=", "value": v}, st.sampled_from(["FR", "US"])
    ),
)
event_leaf = st.builds(
    lambda name, types, count, within, where: {
        "event": name,
        **types,
        "count": count,
        **within,
        **where,
    },
    st.sampled_from(["Pricing Viewed", "Order Completed", "$visit"]),
    st.just({}),
    st.builds(
        lambda op, n: {op: n},
        st.sampled_from(["at_least", "exactly", "at_most"]),
        st.integers(0, 3),
    ),
    st.one_of(
        st.just({}),
        st.builds(
            lambda n, u: {"within": {"last": n, "unit": u}},
            st.integers(1, 72),
            st.sampled_from(["hours", "days"]),
        ),
        st.builds(  # an offset window: from N to M units ago
            lambda far, near, u: {"within": {"from_ago": far + near, "to_ago": near, "unit": u}},
            st.integers(1, 72),
            st.integers(0, 48),
            st.sampled_from(["hours", "days"]),
        ),
        st.builds(
            lambda a, w: {"within": {"from": stamp(a), "to": stamp(a + w)}},
            st.integers(-10, 200),
            st.integers(0, 100),
        ),
    ),
    st.one_of(
        st.just({}),
        st.builds(
            lambda v: {"where": [{"property": "amount", "op": ">=", "value": v}]},
            st.integers(0, 10),
        ),
    ),
)
time_leaf = st.builds(  # first / last time less or more than a span ago
    lambda name, edge, op, n, unit, where: {"event": name, edge: {op: n, "unit": unit}, **where},
    st.sampled_from(["Pricing Viewed", "Order Completed", "$visit"]),
    st.sampled_from(["first", "last"]),
    st.sampled_from(["less_than", "more_than"]),
    st.integers(1, 72),
    st.sampled_from(["hours", "days"]),
    st.one_of(
        st.just({}),
        st.builds(lambda v: {"where": [{"property": "amount", "op": ">=", "value": v}]},
                  st.integers(0, 10)),
    ),
)  # fmt: skip
step_event = st.sampled_from(["Pricing Viewed", "Order Completed", "Signed Up", "$visit"])
gap = st.one_of(st.just({}), st.builds(lambda n: {"within": {"last": n, "unit": "hours"}},
                                       st.integers(1, 72)))  # fmt: skip
sequence_leaf = st.builds(  # funnels: steps in order, gaps, a recent first step, a deadline
    lambda first, rest, recent, never: {"sequence": {
        "steps": [{"event": first}, *({"event": e, **g} for e, g in rest)], **recent, **never}},
    step_event,
    st.lists(st.tuples(step_event, gap), min_size=1, max_size=2),
    st.one_of(st.just({}), st.builds(lambda n: {"within": {"last": n, "unit": "hours"}},
                                     st.integers(1, 200))),
    st.one_of(st.just({}), st.builds(
        lambda e, n: {"not_followed_by": {"event": e, "within": {"last": n, "unit": "hours"}}},
        step_event, st.integers(1, 72))),
)  # fmt: skip
page_leaf = st.builds(
    lambda name, n: {
        "event": name,
        "types": ["page"],
        "count": {"at_least": n},
        "within": {"last": 3, "unit": "days"},
    },
    st.sampled_from(PAGES),
    st.integers(1, 2),
)
computed_leaf = st.one_of(
    st.builds(
        lambda k, op, v: {"computed": k, "op": op, "value": v},
        st.sampled_from(
            [
                "spend",
                "spend_week",
                "orders_2d",
                "avg_order",
                "first_amount",
                "visits_2d_before",
                "spend_prev_day",
            ]
        ),
        st.sampled_from([">=", "<", "="]),
        st.integers(0, 20),
    ),
    st.builds(
        lambda k, v: {"computed": k, "op": "=", "value": v},
        st.sampled_from(["top_kind", "last_kind"]),
        st.sampled_from(["x", "y"]),
    ),
    st.builds(lambda v: {"computed": "kinds", "op": ">=", "value": v}, st.integers(1, 2)),
    st.builds(  # sessions: visits (a few) and active minutes (hours apart: multiples of 60)
        lambda k, op, v: {"computed": k, "op": op, "value": v},
        st.sampled_from(["sessions_3d", "minutes_2d", "minutes_before"]),
        st.sampled_from([">=", "<", "="]),
        st.sampled_from([1, 2, 3, 60, 120, 180, 300]),
    ),
    st.builds(  # trends: one computed value against a factor of another
        lambda pair, op, factor: {
            "computed": pair[0],
            "op": op,
            "other": pair[1],
            **({"factor": factor} if factor != 1 else {}),
        },
        st.sampled_from(
            [
                ("visits_2d", "visits_2d_before"),
                ("spend_week", "spend_prev_day"),
                ("avg_order", "spend"),
                ("minutes_2d", "minutes_before"),
            ]
        ),
        st.sampled_from(["<", ">=", "!="]),
        st.sampled_from([1, 0.5, 2]),
    ),
)
leaf = st.one_of(
    trait_leaf,
    event_leaf,
    event_leaf,
    time_leaf,
    sequence_leaf,
    sequence_leaf,
    page_leaf,
    computed_leaf,
    computed_leaf,
    st.just({"import": "crm"}),
)
condition = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"and": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"or": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
    ),
    max_leaves=5,
)


@st.composite
def definitions(draw: st.DrawFn) -> Registry:
    registry = Registry([computed_from_spec(spec) for spec in COMPUTED])
    for i in range(draw(st.integers(1, 5))):
        spec = draw(condition)
        if i and draw(st.booleans()):
            ref = {"segment": f"s{draw(st.integers(0, i - 1))}"}
            spec = {draw(st.sampled_from(["and", "or"])): [spec, ref]}
        registry.put(segment_from_spec({"key": f"s{i}", "condition": spec}))
    return registry


traits = st.fixed_dictionaries(
    {},
    optional={
        "plan": st.sampled_from(["trial", "paid", "free", None, "__null__"]),
        "ltv": st.integers(0, 120),
        "email": st.sampled_from(["ann@a.com", "x@b.org", "", None]),
        "tags": st.lists(st.sampled_from(["vip", "beta", "churn"]), max_size=2),
        "trial_end": st.integers(-72, 400).map(stamp),
        "address": st.builds(lambda c: {"country": c}, st.sampled_from(["FR", "US"])),
    },
)
context = st.one_of(
    st.just({}),
    st.builds(lambda c: {"location": {"country": c}}, st.sampled_from(["FR", "US"])),
    st.just({"traitflow": {"import": "crm"}}),
)


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["identify", "track", "track", "page"]))
    body: dict[str, Any] = {
        "type": kind,
        "userId": draw(st.sampled_from(PEOPLE)),
        "timestamp": stamp(draw(st.integers(0, 200))),
        "context": draw(context),
    }
    if kind == "identify":
        body["traits"] = draw(traits)
    elif kind == "track":
        body["event"] = draw(st.sampled_from([*EVENTS, "Order Completed", "Pricing Viewed"]))
        body["properties"] = {
            "amount": draw(st.integers(0, 12)),
            "kind": draw(st.sampled_from(["x", "y"])),
        }
    else:
        body["name"] = draw(st.sampled_from(PAGES))
    return body


def parsed(bodies: list[dict[str, Any]]) -> list[Message]:
    return [
        parse_message(orjson.dumps(b), max_bytes=10_000, fallback_timestamp_ms=0) for b in bodies
    ]


def engine_flips(messages: list[Message], nows: list[int], registry: Registry) -> list[Flip]:
    profiles: dict[str, Any] = {}
    flips: list[Flip] = []
    for index, item in enumerate(messages):
        outcome = process(profiles.get(item.person), item, registry, "__null__", nows[index])
        profiles[item.person] = outcome.profile
        flips += [
            (index, item.person, e["segment"], e["type"] == "audience.entered")
            for e in outcome.events
        ]
    return sorted(flips)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions(), st.lists(message(), min_size=8, max_size=40), st.data())
def test_incremental_engine_equals_reference(
    registry: Registry, bodies: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Messages are processed at a worker clock that only moves forward, sometimes far
    beyond the messages' own times (a late import), sometimes behind them."""
    messages = parsed(bodies)
    steps = data.draw(st.lists(st.integers(0, 30), min_size=len(messages), max_size=len(messages)))
    nows = [BASE + HOUR * sum(steps[: i + 1]) for i in range(len(messages))]
    assert engine_flips(messages, nows, registry) == sorted(
        reference_flips(messages, nows, registry, "__null__")
    )
