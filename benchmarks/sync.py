"""Scheduled sync (issue 27): a daily snapshot re-synced with 1% of its rows changed costs
about 1% of the first sync's messages.

Generates a snapshot of N rows (``import.py``'s columns) in a folder, syncs it (every row
is new), then drops the next day's snapshot with 1% of the rows changed (a new plan) and
syncs again. Prints, for both syncs in one run: rows, messages published, rows skipped as
unchanged, seconds, and the second against the first.
Usage: python benchmarks/sync.py [--rows N] [--changed FRACTION]
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from pathlib import Path

from common import broker_for_run, save_figures, script_arguments

from traitflow.sync.run import FileOutcome, SyncOptions, sync_round
from traitflow.sync.sources import Source

HEADER = "external_id,first_name,email,country,plan,lifetime_value,vip\n"
PLANS = ["trial", "monthly", "annual"]


def snapshot(path: Path, rows: int, changed: set[int]) -> None:
    """The same people every day (seeded); the rows in ``changed`` have another plan."""
    rng = random.Random(27)
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            plan = rng.randrange(3)
            plan = (plan + 1) % 3 if n in changed else plan
            out.write(
                f"user-{n},Name{n},user{n}@example.com,{rng.choice(['FR', 'US', 'DE'])},"
                f"{PLANS[plan]},{rng.randrange(5000)},{rng.choice(['TRUE', 'FALSE'])}\n"
            )


def main() -> None:
    parser = script_arguments(__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-sync-"))
    folder = workdir / "exports"
    folder.mkdir()
    changed = set(random.Random(1).sample(range(args.rows), int(args.rows * args.changed)))
    try:
        with broker_for_run() as settings_for:
            settings = settings_for(workdir, 4)
            snapshot(folder / "traits-day-1.csv", args.rows, set())
            [first] = asyncio.run(sync_round(settings, Source(str(folder)), SyncOptions()))
            snapshot(folder / "traits-day-2.csv", args.rows, changed)
            [second] = asyncio.run(sync_round(settings, Source(str(folder)), SyncOptions()))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _print(args.rows, len(changed), first, second, args.json)


def _print(
    rows: int, changed: int, first: FileOutcome, second: FileOutcome, json: str | None
) -> None:
    assert first.report is not None and second.report is not None
    print(f"\n{rows:,}-row snapshot, then the next day's with {changed:,} rows changed")
    print("| sync | rows | messages published | unchanged (skipped) | seconds | rows/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, outcome in (("first (all new)", first), ("second (1% changed)", second)):
        r = outcome.report
        assert r is not None
        print(f"| {name} | {r.rows:,} | {r.imported:,} | {r.unchanged:,} | {r.seconds:.1f} "
              f"| {r.rows / r.seconds:,.0f} |")  # fmt: skip
    messages = second.report.imported / first.report.imported
    seconds = second.report.seconds / first.report.seconds
    print(f"\nsecond/first: messages {messages:.4f} ({second.report.imported:,} of "
          f"{first.report.imported:,}; {changed:,} rows changed), time {seconds:.2f}")  # fmt: skip
    figures = {"messages_ratio": messages, "time_ratio": seconds}
    save_figures(
        json, {**figures, "first_s": first.report.seconds, "second_s": second.report.seconds}
    )


if __name__ == "__main__":
    main()
