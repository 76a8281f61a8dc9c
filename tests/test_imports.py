"""Every module imports on its own, first: an import cycle that only some orders
trigger (a benchmark importing ``ingest.bundles`` first once met one) fails here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CHECK = """
import importlib, pkgutil, sys
import traitflow
names = [m.name for m in pkgutil.walk_packages(traitflow.__path__, "traitflow.")
         if not m.name.endswith("__main__")]
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "traitflow" or m.startswith("traitflow.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
print(len(names))
print("\\n".join(failed))
"""


def test_every_module_imports_first() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    count, *failed = done.stdout.splitlines()
    assert int(count) > 80
    assert [line for line in failed if line] == []


PURE = ("segments", "profiles", "identity")  # the core: no Kafka, no Faust, no I/O
ADAPTERS = ("aiokafka", "faust", "aiohttp", "traitflow.broker", "traitflow.worker")


def test_the_pure_core_imports_no_adapter() -> None:
    """``segments``, ``profiles`` and ``identity`` are pure (README, "Layout"): Kafka
    code belongs to ``broker``, ``catalog``, ``readers`` and ``worker``."""
    assert _imports_of(PURE, ADAPTERS) == []


def test_the_worker_knows_no_admin_api() -> None:
    """The admin API reads the worker's state; ``traitflow worker`` installs it on the
    app, which the worker package builds without it."""
    assert _imports_of(("worker",), ("traitflow.admin",)) == []


def test_the_admin_api_knows_no_console() -> None:
    """The console is an interface on the admin API (its guard, its peers), never the
    other way round: ``traitflow worker`` installs both."""
    assert _imports_of(("admin",), ("traitflow.console",)) == []


def _imports_of(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """``package/module: name`` for each import of a ``forbidden`` prefix."""
    root = Path(__file__).parents[1] / "src" / "traitflow"
    found = []
    for package in packages:
        for path in sorted((root / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                found += [f"{package}/{path.name}: {n}" for n in names if n.startswith(forbidden)]
    return found
