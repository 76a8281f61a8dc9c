"""OpenAPI 3.1 documents from typed bodies: each JSON body an HTTP server answers is a
``TypedDict`` (checked by mypy where the server builds it), and its schema in the document
is generated from that type by pydantic, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

JSON = "application/json"
REF = "#/components/schemas/{model}"


def schemas_of(*bodies: type[Any]) -> dict[str, Any]:
    """``components.schemas`` for ``bodies`` and every type they contain, by class name."""
    found: dict[str, Any] = {}
    for body in bodies:
        schema = TypeAdapter(body).json_schema(ref_template=REF)
        found.update(schema.pop("$defs", {}))
        found[body.__name__] = schema
    return found


def ref(body: type[Any]) -> dict[str, str]:
    return {"$ref": REF.format(model=body.__name__)}


def json_response(body: type[Any] | dict[str, Any], description: str) -> dict[str, Any]:
    """A response whose JSON body is ``body`` (a typed body, or a schema)."""
    schema = body if isinstance(body, dict) else ref(body)
    return {"description": description, "content": {JSON: {"schema": schema}}}


def text_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
