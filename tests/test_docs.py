"""Documents that restate the code are checked against it."""

from __future__ import annotations

import re
from pathlib import Path

from traitflow.config import Settings

ROOT = Path(__file__).parents[1]


def test_the_configuration_table_names_every_setting_and_no_other() -> None:
    table = (ROOT / "docs" / "configuration.md").read_text()
    named = set(re.findall(r"`TRAITFLOW_([A-Z0-9_]+)`", table))
    spelled = {name.upper() for name in Settings.model_fields}
    assert sorted(spelled - named) == [], "settings missing from docs/configuration.md"
    assert sorted(named - spelled) == [], "docs/configuration.md names unknown settings"
