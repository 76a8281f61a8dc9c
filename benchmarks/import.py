"""CSV import throughput into Kafka, against a raw aiokafka producer of the same messages.

Generates a CSV of N rows (standard and custom columns), then in one run measures
(a) a raw aiokafka producer sending the equivalent identify messages (the ceiling) and
(b) ``traitflow import`` of the file (streaming read, validation, typing, publishing with
acknowledgements); prints rows/s, the ratio (b)/(a), and the import's peak memory.
Then (c): the same import with a stray quote every 1,000 rows, which must stay linear
(each stray quote rejects its own line; reading goes on from the next), as (c)/(b).
Usage: python benchmarks/import.py [--rows N]
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from common import broker_for_run, script_arguments

from traitflow.broker.clients import producer
from traitflow.config import Settings
from traitflow.importer.run import ImportOptions, import_csv

HEADER = "external_id,first_name,email,country,plan,lifetime_value,signed_up_at,vip\n"


def generate(path: Path, rows: int, stray_every: int = 0) -> None:
    rng = random.Random(9)
    countries = ["FR", "US", "DE", "GB", "JP", "BR"]
    plans = ["trial", "monthly", "annual"]
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            stray = '"' if stray_every and n % stray_every == stray_every - 1 else ""
            out.write(
                f"user-{n},{stray}Name{n},user{n}@example.com,{rng.choice(countries)},"
                f"{rng.choice(plans)},{rng.randrange(5000)},"
                f"2026-0{rng.randrange(1, 10)}-01T08:00:00Z,{rng.choice(['TRUE', 'FALSE'])}\n"
            )


async def raw_ceiling(settings: Settings, path: Path) -> float:
    """The same identify messages, already built, sent as fast as aiokafka allows."""
    messages = []
    with path.open() as lines:
        next(lines)
        for line in lines:
            cells = line.rstrip("\n").split(",")
            traits = dict(zip(HEADER.strip().split(",")[1:], cells[1:], strict=True))
            messages.append(
                (
                    cells[0].encode(),
                    orjson.dumps({"type": "identify", "userId": cells[0], "traits": traits}),
                )
            )
    started = time.perf_counter()
    async with producer(settings) as client:
        pending = []
        for key, value in messages:
            pending.append(await client.send(settings.topics.events, value, key=key))
            if len(pending) >= 2_000:
                for ack in pending:
                    await ack
                pending.clear()
        for ack in pending:
            await ack
    return len(messages) / (time.perf_counter() - started)


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-bench-import-"))
    try:
        path = workdir / "traits.csv"
        generate(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        with broker_for_run() as settings_for:
            # The import first: the process's peak memory is then the import's own.
            report = asyncio.run(import_csv(settings_for(workdir, 4), path, ImportOptions()))
            ceiling = asyncio.run(raw_ceiling(settings_for(workdir, 4), path))
            strays = workdir / "strays.csv"
            generate(strays, args.rows, stray_every=1_000)
            options = ImportOptions(errors_path=workdir / "strays.errors.csv")
            stray_report = asyncio.run(import_csv(settings_for(workdir, 4), strays, options))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ours = report.rows / report.seconds
    print(f"\n{args.rows:,} rows, {size_mb:.0f} MB CSV")
    print("| path | rows/s |\n| --- | ---: |")
    print(f"| (a) raw aiokafka producer, messages prebuilt (ceiling) | {ceiling:,.0f} |")
    print(f"| (b) traitflow import (read, validate, type, publish, ack) | {ours:,.0f} |")
    stray_rate = stray_report.rows / stray_report.seconds
    print(f"| (c) traitflow import, a stray quote every 1,000 rows | {stray_rate:,.0f} |")
    print(
        f"\n(c)/(b) = {stray_rate / ours:.2f}: {stray_report.rejected:,} lines rejected, "
        f"{stray_report.imported:,} imported"
    )
    print(
        f"\n(b)/(a) = {ours / ceiling:.2f}; imported {report.imported:,}, "
        f"rejected {report.rejected:,}; peak memory during the import "
        f"{report.peak_memory_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
