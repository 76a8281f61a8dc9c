"""Help text of options that set a setting: taken from the setting itself, so the
description, variable and default shown are the ones in force."""

from __future__ import annotations

from traitflow.config import Settings


def setting_help(name: str) -> str:
    field = Settings.model_fields[name]
    default = field.default if field.default not in (None, "") else "unset"
    return f"{field.description} (env TRAITFLOW_{name.upper()}, default {default})"
