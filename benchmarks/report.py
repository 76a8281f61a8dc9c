"""The throughput and latency figures of issue 10 in one table, each measured in this run.

Runs throughput.py, latency.py, scaleout.py and state.py (each prints its own details),
then prints one table: every figure, its ratio, the target and whether it is met, with
the machine it ran on. Usage: python benchmarks/report.py [--people N] (for state.py)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).parent
GIB = 1 << 30


def run(script: str, workdir: Path, *args: str) -> Any:
    """Run one benchmark script (its output goes to ours); return its figures."""
    figures = workdir / f"{script}.json"
    print(f"\n== {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), "--json", str(figures), *args], check=True)
    return orjson.loads(figures.read_bytes())


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def rows(throughput: Any, latency: Any, scaleout: Any, state: Any) -> list[tuple[str, ...]]:
    t, s = throughput, state
    naive = t["naive"]

    def rate_row(name: str, rate: float, ceiling: float) -> tuple[str, ...]:
        share, times = rate / ceiling, rate / naive
        met = share >= 0.25 and times >= 20
        measured = f"{rate:,.0f} events/s: {share:.1%} of ceiling, {times:.2f}x naive"
        return name, measured, ">= 25% of ceiling and >= 20x naive", _yes(met)

    p50, p99 = latency["p50_ms"], latency["p99_ms"]
    return [
        ("raw aiokafka + orjson ceiling, one message per record", f"{t['ceiling']:,.0f}/s",
         "", ""),
        ("naive Faust agent (table read + write per event)", f"{naive:,.0f}/s", "", ""),
        rate_row("worker, one message per record", t["single"], t["ceiling"]),
        ("raw ceiling, bundled records", f"{t['bundled_ceiling']:,.0f}/s", "", ""),
        rate_row("worker, bundled records", t["bundled"], t["bundled_ceiling"]),
        ("latency at half the max rate", f"p50 {p50:.0f} ms, p90 {latency['p90_ms']:.0f} ms, "
         f"p99 {p99:.0f} ms, max {latency['max_ms']:.0f} ms (at {latency['rate']:,.0f}/s)",
         "p50 < 50 ms, p99 < 250 ms", _yes(p50 < 50 and p99 < 250)),
        (f"worker RSS with {s['people']:,} profiles", f"{s['rss_bytes'] / GIB:.2f} GiB "
         f"(peak {s['peak_rss_bytes'] / GIB:.2f} GiB)", "< 1 GiB",
         _yes(s["peak_rss_bytes"] < GIB)),
        ("two workers against one", f"{scaleout['two']:,.0f}/s vs {scaleout['one']:,.0f}/s: "
         f"{scaleout['ratio']:.2f}x", ">= 1.6x", _yes(scaleout["ratio"] >= 1.6)),
        ("rebuild from changelogs after losing RocksDB",
         f"{s['recovery_profiles_per_s']:,.0f} profiles/s ({s['recovered_profiles']:,} in "
         f"{s['recovery_s']:.1f} s)", "reported", "-"),
    ]  # fmt: skip


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", default="1000000", help="profiles for state.py")
    parser.add_argument("--saved", type=Path, help="print the table of figures saved there")
    args = parser.parse_args()
    if args.saved:
        names = ("throughput.py", "latency.py", "scaleout.py", "state.py")
        figures = tuple(orjson.loads((args.saved / f"{name}.json").read_bytes()) for name in names)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="traitflow-report-"))
        print(f"figures are saved in {workdir} (--saved {workdir} prints the table again)")
        figures = (
            run("throughput.py", workdir),
            run("latency.py", workdir),
            run("scaleout.py", workdir),
            run("state.py", workdir, "--people", args.people),
        )
    print(f"\n## Issue 10 figures, one run on {machine()}\n")
    print("| figure | measured | target | met |")
    print("| --- | --- | --- | --- |")
    for row in rows(*figures):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
