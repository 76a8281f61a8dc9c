"""The standard workload of `make bench` (defined in benchmarks/README.md), made by seed.

100,000 people with skewed activity (Zipf-like: a few people send much of the traffic);
10% identify, 75% track (20 event names with properties), 15% page; 100 live segments of
trait, windowed event, computed-trait and composite conditions over 10 computed traits.
Messages are spread over the 14 days before ``end_ms`` in order, so windows matter and
nothing is dated in the future. ``python benchmarks/workload.py`` prints a summary.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

from traitflow.segments import Definition, computed_from_spec, segment_from_spec
from traitflow.timeutil import iso_from_ms, now_ms

PEOPLE = 100_000
SKEW = 0.8  # Zipf exponent of activity per person
SPAN_MS = 14 * 86_400_000
EVENTS = [
    "Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed",
    "Payment Failed", "Subscription Started", "Subscription Cancelled", "Trial Started",
    "Plan Upgraded", "Plan Downgraded", "Invite Sent", "Report Exported", "Search Performed",
    "Video Played", "Feature Used", "Support Ticket Opened", "Email Opened", "Push Opened",
    "Logged In",
]  # fmt: skip
PAGES = ["Home", "Pricing", "Docs", "Blog", "Signup", "Features", "Careers", "Contact"]
PLANS = ["free", "trial", "monthly", "annual"]
COUNTRIES = ["GB", "US", "DE", "FR", "IN", "BR", "JP", "NG"]
CATEGORIES = ["books", "games", "music", "tools", "garden"]


def person_weights(people: int) -> list[float]:
    """Cumulative weights: person i is chosen in proportion to 1 / (i + 1) ** SKEW."""
    return list(itertools.accumulate(1 / (i + 1) ** SKEW for i in range(people)))


def messages(
    total: int, people: int = PEOPLE, end_ms: int | None = None, seed: int = 1
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    end = end_ms if end_ms is not None else now_ms()
    start = end - SPAN_MS
    who = rng.choices(range(people), cum_weights=person_weights(people), k=total)
    made = []
    for n, person in enumerate(who):
        stamp = iso_from_ms(start + n * SPAN_MS // max(1, total))
        ids = {"userId": f"user-{person}", "messageId": f"bench-{seed}-{n}", "timestamp": stamp}
        roll = rng.random()
        if roll < 0.10:
            made.append({"type": "identify", **ids, "traits": _traits(rng, person)})
        elif roll < 0.85:
            made.append({"type": "track", **ids, "event": rng.choice(EVENTS),
                         "properties": _properties(rng)})  # fmt: skip
        else:
            page = rng.choice(PAGES)
            made.append({"type": "page", **ids, "name": page,
                         "properties": {"path": f"/{page.lower()}"}})  # fmt: skip
    return made


def _traits(rng: random.Random, person: int) -> dict[str, Any]:
    return {
        "email": f"user-{person}@example.com",
        "plan": rng.choice(PLANS),
        "country": rng.choice(COUNTRIES),
        "age": rng.randrange(18, 80),
        "seats": rng.randrange(1, 50),
    }


def _properties(rng: random.Random) -> dict[str, Any]:
    return {
        "price": round(rng.uniform(1, 200), 2),
        "category": rng.choice(CATEGORIES),
        "quantity": rng.randrange(1, 5),
    }


def definitions(seed: int = 2) -> list[Definition]:
    """10 computed traits and 100 segments: 25 trait, 35 windowed event, 20 computed-trait
    and 20 composite conditions (and / or / not, references to other segments)."""
    rng = random.Random(seed)
    aggregates = ["sum", "count", "max", "unique_count", "avg"]
    computed = [
        computed_from_spec(
            {"key": f"c{i}", "event": EVENTS[i], "aggregate": aggregates[i % 5],
             **({} if aggregates[i % 5] == "count" else {"property": "price"}),
             **({"within": {"last": 7, "unit": "days"}} if i % 2 else {})}
        )
        for i in range(10)
    ]  # fmt: skip
    leaves = (
        [_trait_leaf(rng) for _ in range(25)]
        + [_event_leaf(rng) for _ in range(35)]
        + [{"computed": f"c{rng.randrange(10)}", "op": ">=", "value": rng.choice([2, 50, 300])}
           for _ in range(20)]
    )  # fmt: skip
    segments = [segment_from_spec({"key": f"s{i}", "condition": c}) for i, c in enumerate(leaves)]
    for i in range(20):
        a, b = rng.sample(range(len(leaves)), 2)
        condition: dict[str, Any] = (
            {"and": [leaves[a], {"not": leaves[b]}]}
            if i % 2
            else {"or": [{"segment": f"s{a}"}, leaves[b]]}
        )
        segments.append(segment_from_spec({"key": f"s{80 + i}", "condition": condition}))
    return [*computed, *segments]


def _trait_leaf(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(4)
    if choice == 0:
        return {"trait": "plan", "op": "=", "value": rng.choice(PLANS)}
    if choice == 1:
        return {"trait": "country", "op": "in", "value": rng.sample(COUNTRIES, 3)}
    if choice == 2:
        return {"trait": "age", "op": "between", "value": sorted(rng.sample(range(18, 80), 2))}
    return {"trait": "seats", "op": ">=", "value": rng.randrange(5, 40)}


def _event_leaf(rng: random.Random) -> dict[str, Any]:
    leaf: dict[str, Any] = {
        "event": rng.choice(EVENTS),
        "count": {"at_least": rng.randrange(1, 4)},
        "within": {"last": rng.choice([1, 3, 7]), "unit": "days"},
    }
    if rng.random() < 0.3:
        leaf["where"] = [{"property": "category", "op": "=", "value": rng.choice(CATEGORIES)}]
    if rng.random() < 0.2:
        leaf = {"event": rng.choice(PAGES), "types": ["page"], "count": {"at_least": 2},
                "within": {"last": 7, "unit": "days"}}  # fmt: skip
    return leaf


def main() -> None:
    sample = messages(100_000)
    kinds = Counter(m["type"] for m in sample)
    people = Counter(m["userId"] for m in sample)
    top = sum(count for _, count in people.most_common(100))
    print(f"{len(sample):,} messages: {dict(kinds)}; {len(people):,} distinct people")
    print(f"the 100 most active people send {top / len(sample):.0%} of the messages")
    print(f"{len(definitions())} definitions")


if __name__ == "__main__":
    main()
