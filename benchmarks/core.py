"""The pure core in one process, no Kafka or Faust (issue 22, target 4): parse and validate,
resolve identity, apply, decide memberships, encode the profile, over in-memory tables
behind the worker's own write-behind layers, as the worker does for every message.

Workloads: the standard one (100 segments, benchmarks/README.md) and the peer's simple one
(track messages, no segments and 10). Prints messages/s and µs per message, best of
three runs each (the target: 50,000 messages/s on the standard workload).
Usage: python benchmarks/core.py [--events N] [--profile]
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from typing import Any

import orjson
import workload
from common import save_figures, script_arguments
from peer import simple_messages, ten_segments

from traitflow.config import Settings
from traitflow.identity.resolver import Resolver, identity_rules
from traitflow.ingest.messages import Limits, parse_message, routing_key
from traitflow.segments import Definition, Registry
from traitflow.timeutil import now_ms
from traitflow.worker.store.profiles import IdentityTables, ProfileStore

TARGET = 50_000
SEAL_EVERY = 2_000  # messages per batch, as the worker's default


def core_rate(records: list[tuple[str, bytes]], definitions: list[Definition]) -> float:
    """Messages/s through the worker's per-message core, batches sealed and written as
    the worker does (the held layers hold at most one batch)."""
    settings = Settings()
    store = ProfileStore({}, {}, {})
    resolver = Resolver(IdentityTables(store), Registry(definitions), identity_rules(settings))
    limits, now = Limits.of(settings), now_ms()
    started = time.perf_counter()
    for position, (key, raw) in enumerate(records):
        message = parse_message(
            raw, max_bytes=settings.max_message_bytes, fallback_timestamp_ms=now,
            latest_ms=now, limits=limits,
        )  # fmt: skip
        step = resolver.on_message(key, None, message, now, position)
        for profile, due in step.saves:
            store.save(profile.person.encode(), profile, due, profile.to_bytes())
        if position % SEAL_EVERY == SEAL_EVERY - 1:
            _settle(store)
    return len(records) / (time.perf_counter() - started)


def _settle(store: ProfileStore) -> None:
    """Seal the batch and write its held writes (one partition: the tables are dicts)."""
    store.seal()
    asyncio.run(store.flush({0: None}))


def encoded(messages: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    return [(routing_key(message).decode(), orjson.dumps(message)) for message in messages]


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the standard run")
    args = parser.parse_args()
    standard = encoded(workload.messages(args.events))
    simple = encoded(simple_messages(args.events, 50_000))
    cases = {
        "standard workload, 100 segments": (standard, workload.definitions()),
        "simple workload, no segments": (simple, []),
        "simple workload, 10 segments": (simple, ten_segments()),
    }
    if args.profile:
        cProfile.runctx("core_rate(*cases['standard workload, 100 segments'])", globals(),
                        {"cases": cases}, "core.prof")  # fmt: skip
        pstats.Stats("core.prof").sort_stats("tottime").print_stats(30)
        return
    figures = {name: max(core_rate(*case) for _ in range(3)) for name, case in cases.items()}
    print(f"\n{args.events:,} messages, in-process core (best of 3)")
    print("| workload | messages/s | µs per message |\n| --- | ---: | ---: |")
    for name, rate in figures.items():
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.1f} |")
    rate = figures["standard workload, 100 segments"]
    print(f"\nstandard: {rate:,.0f}/s = {rate / TARGET:.2f} of the target ({TARGET:,}/s)")
    save_figures(args.json, figures)


if __name__ == "__main__":
    main()
