"""The worker's performance targets (issue 22) in one table, each measured in this run.

Runs peer.py (Quix Streams: needs the ``bench`` extra), core.py, throughput.py,
latency.py, scaleout.py and state.py (each prints its own details), then prints one
table: every figure, its ratio, the target and whether it is met, with the machine it
ran on. Usage: python benchmarks/report.py [--people N] (for state.py)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from common import script_arguments

HERE = Path(__file__).parent
GIB = 1 << 30
SCRIPTS = ("peer.py", "core.py", "throughput.py", "latency.py", "scaleout.py", "state.py")


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


def rows(
    peer: Any, core: Any, throughput: Any, latency: Any, scaleout: Any, state: Any
) -> list[tuple[str, ...]]:
    t, s, quix = throughput, state, peer["quix"]
    naive = t["naive"]
    standard_core = core["standard workload, 100 segments"]

    def times_naive(name: str, rate: float, target: float) -> tuple[str, ...]:
        measured = f"{rate:,.0f} events/s: {rate / naive:.2f}x naive"
        return name, measured, f">= {target:.0f}x naive", _yes(rate / naive >= target)

    p50, p99 = latency["p50_ms"], latency["p99_ms"]
    return [
        ("simple workload: raw aiokafka + orjson ceiling", f"{peer['ceiling']:,.0f}/s", "", ""),
        ("simple workload: Quix Streams (RocksDB state + changelog)", f"{quix:,.0f}/s "
         f"({quix / peer['ceiling']:.1%} of ceiling)", "", ""),
        ("simple workload: naive Faust agent", f"{peer['naive']:,.0f}/s", "", ""),
        ("simple workload: worker, no segments", f"{peer['bare']:,.0f}/s: "
         f"{peer['bare'] / quix:.2f}x Quix Streams", ">= 1.0x Quix Streams",
         _yes(peer["bare"] >= quix)),
        ("simple workload: worker, 10 segments", f"{peer['ten_segments']:,.0f}/s: "
         f"{peer['ten_segments'] / quix:.2f}x Quix Streams", "reported", "-"),
        ("standard workload: naive Faust agent", f"{naive:,.0f}/s", "", ""),
        times_naive("standard workload: worker, one message per record", t["single"], 10),
        times_naive("standard workload: worker, bundled records", t["bundled"], 20),
        ("standard workload: the pure core in-process", f"{standard_core:,.0f} messages/s "
         f"({1e6 / standard_core:.0f} µs each)", ">= 50,000/s", _yes(standard_core >= 50_000)),
        ("latency at half the max rate (one per record, above)", f"p50 {p50:.0f} ms, "
         f"p90 {latency['p90_ms']:.0f} ms, p99 {p99:.0f} ms, max {latency['max_ms']:.0f} ms "
         f"(at {latency['rate']:,.0f}/s)",
         "p99 < 250 ms", _yes(p99 < 250)),
        (f"worker RSS with {s['people']:,} profiles", f"{s['rss_bytes'] / GIB:.2f} GiB "
         f"(peak {s['peak_rss_bytes'] / GIB:.2f} GiB)", "< 1 GiB",
         _yes(s["peak_rss_bytes"] < GIB)),
        ("two workers against one", f"{scaleout['two']:,.0f}/s vs {scaleout['one']:,.0f}/s: "
         f"{scaleout['ratio']:.2f}x", ">= 1.6x", _yes(scaleout["ratio"] >= 1.6)),
        ("rebuild from changelogs after losing RocksDB",
         f"{s['recovery_profiles_per_s']:,.0f} profiles/s ({s['recovered_profiles']:,} in "
         f"{s['recovery_s']:.1f} s)", "reported", "-"),
    ]  # fmt: skip


def _arguments(script: str, measured: dict[str, Any], people: str) -> tuple[str, ...]:
    """Latency is measured at half the maximum of the throughput row (one message per
    record), so the table's two figures are of one worker; state.py takes ``people``."""
    if script == "latency.py":
        return ("--rate", f"{measured['throughput.py']['single'] / 2:.0f}")
    return ("--people", people) if script == "state.py" else ()


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--people", default="1000000", help="profiles for state.py")
    parser.add_argument("--saved", type=Path, help="print the table of figures saved there")
    args = parser.parse_args()
    if args.saved:
        names = SCRIPTS
        figures = tuple(orjson.loads((args.saved / f"{name}.json").read_bytes()) for name in names)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="traitflow-report-"))
        print(f"figures are saved in {workdir} (--saved {workdir} prints the table again)")
        measured: dict[str, Any] = {}
        for name in SCRIPTS:
            measured[name] = run(name, workdir, *_arguments(name, measured, args.people))
        figures = tuple(measured[name] for name in SCRIPTS)
    print(f"\n## Performance targets (issue 22), one run on {machine()}\n")
    print("| figure | measured | target | met |")
    print("| --- | --- | --- | --- |")
    for row in rows(*figures):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
