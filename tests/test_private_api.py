"""Faust's and aiokafka's private API is used in four files only: the worker's
``faust_private`` module, the two transports and the RocksDB store that override Faust by
name. Upgrading faust-streaming means reading those against its new sources, and nothing
else."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1] / "src" / "traitflow"
ALLOWED = {
    "worker/faust_private.py",
    "broker/compat.py",
    "broker/delivery.py",
    "worker/store/rocksdb.py",
}


def private_uses(path: Path) -> list[str]:
    """``.name`` attributes read on anything but ``self``/``cls``, and ``_names`` imported."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value
            mine = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            if not mine and not node.attr.startswith("__"):
                found.append(f"{node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("traitflow"):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name[0] == "_"]
    return found


def test_private_api_stays_in_its_four_files() -> None:
    found = {
        name: uses
        for path in sorted(ROOT.rglob("*.py"))
        if (name := path.relative_to(ROOT).as_posix()) not in ALLOWED
        and (uses := private_uses(path))
    }
    assert found == {}


def test_the_check_sees_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from faust.streams import _current_event\nx = app.consumer._thread\n")
    assert private_uses(sample) == ["1: import _current_event", "2: ._thread"]
