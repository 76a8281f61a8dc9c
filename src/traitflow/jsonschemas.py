"""Loading and compiling the JSON Schemas kept in the repository's ``schemas/`` folder."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import fastjsonschema
import orjson

from traitflow.assets import asset_dir

Validator = Callable[[Any], Any]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Parse ``schemas/<name>``."""
    schema: dict[str, Any] = orjson.loads((asset_dir("schemas") / name).read_bytes())
    return schema


@functools.cache
def compile_schema(*names: str) -> Validator:
    """A validator requiring every named schema to hold (their ``allOf``)."""
    schemas = [load_schema(name) for name in names]
    combined = schemas[0] if len(schemas) == 1 else {"allOf": schemas}
    validate: Validator = fastjsonschema.compile(combined)
    return validate


def explain(error: fastjsonschema.JsonSchemaValueException) -> str:
    """The validator's message with its ``data`` root dropped: ``condition.op must be ...``."""
    message: str = error.message
    for root in ("data.", "data "):
        if message.startswith(root):
            return message[len(root) :]
    return message
