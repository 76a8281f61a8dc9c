"""Scale-out: two worker processes sharing the events topic, against one, in one run.

For each count of workers: start them in one consumer group on a fresh topic, wait until
every one is ready (group joined, tables recovered, definitions loaded), then produce the
standard workload as bundled records and time from the first message any worker handles
to the last one handled by all of them together. Kafka spreads the partitions over the
group's members; nothing else is shared. On this 2-core machine the broker and the
producer share the cores with the workers. Usage: python benchmarks/scaleout.py
[--events N] [--json PATH]
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import workload
from common import broker_for_run, faust_process, fill, free_port, save_figures, script_arguments
from latency import wait_ready

from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings


def group_rate(
    settings: Settings, workers: int, messages: list[dict[str, Any]], workdir: Path
) -> float:
    """Events/s of ``workers`` processes together over ``messages``."""
    total = len(messages)
    asyncio.run(apply_definitions(settings, workload.definitions()))
    with ExitStack() as stack:
        members = [
            settings.model_copy(
                update={"web_port": free_port(), "data_dir": settings.data_dir / f"worker-{n}"}
            )
            for n in range(workers)
        ]
        progress: list[tuple[Any, Path]] = []
        for n, member in enumerate(members):
            process, result = stack.enter_context(
                faust_process("traitflow", member, total, workdir, name=f"-{n}")
            )
            progress.append((process, result.with_suffix(".progress")))
        asyncio.run(_all_ready(members))
        asyncio.run(fill(settings, messages, bundled=True))
        return _rate(progress, total)


async def _all_ready(members: list[Settings]) -> None:
    """Every member ready at once (a late joiner makes the others rebalance)."""
    for _ in range(2):
        for member in members:
            await wait_ready(member)
        await asyncio.sleep(2)


def _rate(progress: list[tuple[Any, Path]], total: int, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [orjson.loads(path.read_bytes()) for _, path in progress if path.exists()]
        if sum(figures["count"] for figures in seen) >= total:
            first = min(figures["started"] for figures in seen)
            last = max(figures["last"] for figures in seen)
            return total / (last - first)
        if any(process.poll() is not None for process, _ in progress):
            raise SystemExit("a worker died; see the logs in the run's directory")
        time.sleep(0.2)
    raise SystemExit("the workers did not finish in time")


def main() -> None:
    parser = script_arguments(__doc__, partitions=True)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="traitflow-scaleout-"))
    messages = workload.messages(args.events)
    print(f"{args.events} messages of the standard workload, {args.partitions} partitions")
    rates: dict[int, float] = {}
    with broker_for_run() as settings_for:
        for workers in (1, 2):
            settings = settings_for(workdir, args.partitions)
            rates[workers] = group_rate(settings, workers, messages, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    print("\n| workers | events/s | vs one |")
    print("| ---: | ---: | ---: |")
    for workers, rate in rates.items():
        print(f"| {workers} | {rate:,.0f} | {rate / rates[1]:.2f} |")
    save_figures(args.json, {"one": rates[1], "two": rates[2], "ratio": rates[2] / rates[1]})


if __name__ == "__main__":
    main()
