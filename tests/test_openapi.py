"""OpenAPI documents generated from typed bodies: every reference resolves, and what the
code builds conforms to the schema generated from its type (and a wrong body does not)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.admin.test_documents import registry
from traitflow.admin.documents import counts_document, explanation_document, profile_document
from traitflow.admin.openapi import PROFILE, admin_openapi
from traitflow.bridge.openapi import openapi_document
from traitflow.profiles import Profile

DOCUMENTS = {"admin": admin_openapi(), "bridge": openapi_document()}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_reference_names_a_generated_schema(name: str) -> None:
    document = DOCUMENTS[name]
    schemas = document["components"]["schemas"]
    refs = _refs(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    document = DOCUMENTS["admin"]
    return Draft202012Validator({**schema, "components": document["components"]})


def _errors(schema: dict[str, Any], body: Any) -> list[str]:
    return [error.message for error in _validator(schema).iter_errors(body)]


def test_built_bodies_conform_to_the_schemas_of_their_types() -> None:
    profile = Profile(person="ada", traits={"plan": "trial"})
    counts = counts_document(registry(), {0: Counter(trial=3)}, 2)
    explained = explanation_document("ada", profile, registry(), "trial", 0)
    assert _errors({"$ref": "#/components/schemas/Counts"}, counts) == []
    assert _errors({"$ref": "#/components/schemas/ExplanationView"}, explained) == []
    assert _errors(PROFILE, profile_document("ada", profile, registry(), 0)) == []


def test_a_body_missing_a_field_does_not_conform() -> None:
    counts = dict(counts_document(registry(), {0: Counter(trial=3)}, 2))
    del counts["partitions"]
    assert _errors({"$ref": "#/components/schemas/Counts"}, counts) == [
        "'partitions' is a required property"
    ]
    assert _errors(PROFILE, {"person": "ada", "computed": {}, "activity": [{"event": 1}]})
