"""Folders shipped beside the code: ``schemas/`` and ``examples/``."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path


@functools.cache
def asset_dir(name: str) -> Path:
    """The copy packaged in a wheel, else the repository's folder (editable installs)."""
    packaged = Path(str(resources.files("traitflow"))) / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / name
