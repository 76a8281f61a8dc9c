"""How the worker's speed depends on the number of live segments (10, 100, 1,000).

Definitions are of mixed kinds (trait comparisons, event counts in windows, computed
traits, sequences with a deadline, trends comparing two windows, and/or/not, references to
other segments) over a vocabulary of 1,000 event types and 500 traits; the same traffic is
replayed at every size, so at 1,000 segments a message concerns a few segments and at 10
almost none. For each size, in one run, prints
events/s of (1) the pure engine in-process and (2) the traitflow worker on the broker, and
the ratio of the 1,000 figure to the 10 figure (the target is at least 0.5).
Usage: python benchmarks/segments.py [--events N]
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from common import broker_for_run, faust_run, fill, script_arguments, spread

from traitflow.catalog.topic import apply_definitions
from traitflow.ingest.messages import parse_message
from traitflow.segments import Definition, Registry, computed_from_spec, segment_from_spec
from traitflow.segments.pipeline import process
from traitflow.timeutil import iso_from_ms

EVENT_TYPES = 1_000
TRAITS = 500
BASE_MS = 1_795_420_800_000


KINDS = 6  # trait =, trait >=, windowed count, computed, sequence, trend


def leaf(rng: random.Random, i: int) -> dict[str, Any]:
    kind = i % KINDS
    if kind == 0:
        return {"trait": f"t{rng.randrange(TRAITS)}", "op": "=", "value": rng.randrange(5)}
    if kind == 1:
        return {"trait": f"t{rng.randrange(TRAITS)}", "op": ">=", "value": rng.randrange(5)}
    if kind == 2:
        return {
            "event": f"E{rng.randrange(EVENT_TYPES)}",
            "count": {"at_least": rng.randrange(1, 3)},
            "within": {"last": rng.randrange(1, 8), "unit": "days"},
        }
    if kind == 3:
        return {"computed": f"c{rng.randrange(max(1, i // 10))}", "op": ">=", "value": 5}
    if kind == 4:  # viewed, then checked out within a day, and no order for two days
        steps = [
            {"event": f"E{rng.randrange(EVENT_TYPES)}"},
            {"event": f"E{rng.randrange(EVENT_TYPES)}", "within": {"last": 1}},
        ]
        never = {"event": f"E{rng.randrange(EVENT_TYPES)}", "within": {"last": 2}}
        return {"sequence": {"steps": steps, "not_followed_by": never}}
    trend = rng.randrange(max(1, i // 10))  # this week's count below half the week before's
    return {"computed": f"r{trend}", "op": "<", "other": f"p{trend}", "factor": 0.5}


def mixed_definitions(count: int, seed: int = 11) -> list[Definition]:
    rng = random.Random(seed)
    computed = [
        computed_from_spec(
            {"key": f"c{j}", "event": f"E{rng.randrange(EVENT_TYPES)}", "aggregate": "sum",
             "property": "amount"}
        )
        for j in range(max(1, count // 10))
    ]  # fmt: skip
    for j in range(max(1, count // 10)):  # trends: one event's count, this week and the last
        event = f"E{rng.randrange(EVENT_TYPES)}"
        computed += [
            computed_from_spec({"key": f"r{j}", "event": event, "aggregate": "count",
                                "within": {"last": 7}}),
            computed_from_spec({"key": f"p{j}", "event": event, "aggregate": "count",
                                "within": {"from_ago": 14, "to_ago": 7}}),
        ]  # fmt: skip
    segments: list[Definition] = []
    for i in range(count):
        condition = leaf(rng, i)
        if i % 5 == 4:
            condition = {"and": [condition, {"not": leaf(rng, i + 1)}]}
        if i % 7 == 6 and i > 10:
            condition = {"or": [condition, {"segment": f"s{rng.randrange(i - 10)}"}]}
        segments.append(segment_from_spec({"key": f"s{i}", "condition": condition}))
    return [*computed, *segments]


def traffic(total: int, people: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    messages = []
    for n in range(total):
        stamp = iso_from_ms(BASE_MS + n * 1000)
        if rng.random() < 0.3:
            traits = {f"t{rng.randrange(TRAITS)}": rng.randrange(5) for _ in range(2)}
            messages.append({"type": "identify", "traits": traits, "timestamp": stamp})
        else:
            event = f"E{rng.randrange(EVENT_TYPES)}"
            props = {"amount": rng.randrange(10)}
            messages.append(
                {"type": "track", "event": event, "properties": props, "timestamp": stamp}
            )
    return spread(messages, people)


def engine_rate(definitions: list[Definition], messages: list[dict[str, Any]]) -> float:
    registry = Registry(definitions)
    parsed = [
        parse_message(orjson.dumps(m), max_bytes=32_768, fallback_timestamp_ms=0) for m in messages
    ]
    profiles: dict[str, Any] = {}
    started = time.perf_counter()
    for message in parsed:
        outcome = process(profiles.get(message.person), message, registry, "__null__", 0)
        profiles[message.person] = outcome.profile
    return len(parsed) / (time.perf_counter() - started)


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--sizes", default="10,100,1000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    messages = traffic(args.events, args.people)
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-segments-"))
    # The pure engine first, best of three, while no broker or worker competes for the CPU.
    engines = {
        size: max(engine_rate(mixed_definitions(size), messages) for _ in range(3))
        for size in sizes
    }
    rows = []
    with broker_for_run() as settings_for:
        for size in sizes:
            definitions = mixed_definitions(size)
            engine = engines[size]
            settings = settings_for(workdir, 4)
            asyncio.run(apply_definitions(settings, definitions))
            asyncio.run(fill(settings, messages))
            worker = faust_run("traitflow", settings, len(messages), workdir)
            rows.append((size, engine, worker))
            print(f"{size} segments: engine {engine:,.0f}/s, worker {worker:,.0f}/s", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    print("\n| live segments | engine events/s | worker events/s |\n| ---: | ---: | ---: |")
    for size, engine, worker in rows:
        print(f"| {size:,} | {engine:,.0f} | {worker:,.0f} |")
    first, last = rows[0], rows[-1]
    print(
        f"\nat {last[0]:,} vs {first[0]:,} segments: engine {last[1] / first[1]:.2f}, "
        f"worker {last[2] / first[2]:.2f} (target >= 0.5)"
    )


if __name__ == "__main__":
    main()
