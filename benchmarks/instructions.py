"""Instructions per message through the pure core, counted by valgrind: a figure that does
not move with the machine's load, for before/after comparisons of a change to the core.

Wall-clock rates of ``core.py`` vary by 10 to 30% between runs on shared machines, which
hides any single change worth less than that. Valgrind counts the instructions the
process executes; with a fixed hash seed the count repeats to within 0.1% (default sizes).
Each workload is run twice, over ``--small`` and ``--large`` messages of the same
generated list; the difference, divided by the difference in messages, leaves out
start-up and generation.

Usage: python benchmarks/instructions.py [--against GIT_REF] [--case standard|simple]
(``--against`` counts that commit too, from a temporary git worktree; needs valgrind:
apt-get install valgrind).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from common import script_arguments

HERE = Path(__file__).resolve().parent
RUN = """
import sys
import core, workload
from peer import simple_messages
count, case, small = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if case == "standard":
    records, definitions = core.encoded(workload.messages(count)), workload.definitions()
else:
    records, definitions = core.encoded(simple_messages(count, 50_000)), []
core.core_rate(records[:small] if small else records, definitions)
"""


def instructions(tree: Path, count: int, case: str, small: int) -> int:
    """Instructions of one run over the first ``small`` (0: all) of ``count`` messages."""
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": f"{tree / 'benchmarks'}:{tree / 'src'}"}  # fmt: skip
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable, "-c", RUN,
               str(count), case, str(small)]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=tree / "benchmarks", capture_output=True,
                          text=True, check=True)  # fmt: skip
    for line in done.stderr.splitlines():
        if "I   refs:" in line or "I refs:" in line:
            return int(line.split(":")[1].replace(",", ""))
    raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")


def per_message(tree: Path, case: str, small: int, large: int) -> int:
    with ThreadPoolExecutor(2) as pool:  # the two runs side by side: counts do not mind
        base, full = pool.map(lambda first: instructions(tree, large, case, first), (small, 0))
    return (full - base) // (large - small)


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """A temporary worktree of ``ref``."""
    where = Path(tempfile.mkdtemp(prefix="traitflow-instructions-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(where), ref], cwd=HERE,
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=HERE,
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(where.parent, ignore_errors=True)


def main() -> None:
    parser = script_arguments(__doc__, figures=False)
    parser.add_argument("--against", help="a git ref to count as well")
    parser.add_argument("--case", choices=("standard", "simple"), default="standard")
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=4_000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    here = per_message(HERE.parent, args.case, args.small, args.large)
    print(f"{args.case} workload, this tree: {here:,} instructions per message")
    if args.against:
        with checkout(args.against) as tree:
            there = per_message(tree, args.case, args.small, args.large)
        print(f"{args.case} workload, {args.against}: {there:,} instructions per message")
        print(f"this tree / {args.against}: {here / there:.3f}")


if __name__ == "__main__":
    main()
