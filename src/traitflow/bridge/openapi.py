"""The bridge's OpenAPI 3.1 document: requests from the same message schemas the worker
uses, answers from their types (``traitflow.bridge.answers``)."""

from __future__ import annotations

import functools
from typing import Any

from traitflow import __version__
from traitflow.bridge.answers import Accepted, Refusal
from traitflow.bridge.intake import BATCH_ENDPOINTS
from traitflow.ingest.messages import MESSAGE_TYPES
from traitflow.jsonschemas import load_schema
from traitflow.openapi import JSON, ref, schemas_of, text_response

ERROR_CONTENT = {"content": {JSON: {"schema": ref(Refusal)}}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {f"/v1/{kind}": _tracking_path(kind) for kind in MESSAGE_TYPES}
    for kind in BATCH_ENDPOINTS:
        paths[f"/v1/{kind}"] = _tracking_path(kind)
    paths["/webhook"] = {method: _webhook_operation(method) for method in ("post", "put", "patch")}
    paths["/healthz"] = {"get": _health_operation()}
    paths["/readyz"] = {"get": _ready_operation()}
    paths["/metrics"] = {"get": _metrics_operation()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "traitflow bridge",
            "version": __version__,
            "description": (
                "Segment HTTP Tracking API and webhook destination in front of Kafka. "
                "200 means Kafka acknowledged every accepted message (acks=all)."
            ),
        },
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": _security_schemes()},
    }


def _schema_of(name: str) -> dict[str, Any]:
    return {k: v for k, v in load_schema(name).items() if k not in ("$schema", "title")}


def _schemas() -> dict[str, Any]:
    common = _schema_of("messages/common.json")
    untyped = {**common, "required": []}
    schemas: dict[str, Any] = {"WriteKey": {"type": "string"}, "Person": _person_schema()}
    person = {"$ref": "#/components/schemas/Person"}
    for kind in MESSAGE_TYPES:
        schemas[kind.capitalize()] = {
            "allOf": [untyped, _schema_of(f"messages/{kind}.json"), person],
            "properties": {"writeKey": {"$ref": "#/components/schemas/WriteKey"}},
        }
    schemas["Message"] = {
        "oneOf": [
            {
                "allOf": [{"$ref": f"#/components/schemas/{kind.capitalize()}"}],
                "required": ["type"],
                "properties": {"type": {"const": kind}},
            }
            for kind in MESSAGE_TYPES
        ]
    }
    schemas["Batch"] = {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            "context": {"type": "object"},
            "integrations": {"type": "object"},
            "sentAt": {"type": "string", "format": "date-time"},
            "writeKey": {"$ref": "#/components/schemas/WriteKey"},
        },
    }
    schemas.update(schemas_of(Accepted, Refusal))
    return schemas


def _person_schema() -> dict[str, Any]:
    """userId or anonymousId, not blank. (Also checked beyond the schema: a timestamp no
    further ahead than the tolerated clock skew, and 32 KB per message once enriched.)"""
    identifier = {"type": ["string", "number"], "pattern": "\\S"}
    return {
        "anyOf": [
            {"required": [field], "properties": {field: identifier}}
            for field in ("userId", "anonymousId")
        ]
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "writeKeyBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "base64(<writeKey>:). The key may instead be `writeKey` in the body.",
        }
    }


def _tracking_path(kind: str) -> dict[str, Any]:
    schema = "Batch" if kind in BATCH_ENDPOINTS else kind.capitalize()
    return {
        "post": {
            "summary": f"Send {'a batch of messages' if schema == 'Batch' else 'one ' + kind}",
            "operationId": f"v1_{kind}",
            "security": [{"writeKeyBasic": []}, {}],
            "requestBody": _json_body({"$ref": f"#/components/schemas/{schema}"}),
            "responses": _responses(401, 413, 415),
        }
    }


def _webhook_operation(method: str) -> dict[str, Any]:
    message = {"$ref": "#/components/schemas/Message"}
    return {
        "summary": "Segment webhook destination (classic or Actions), one message or an array",
        "operationId": f"webhook_{method}",
        "parameters": [
            {
                "name": "X-Signature",
                "in": "header",
                "required": True,
                "description": "hex HMAC-SHA1 of the body (of element 0 for an array)",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": _json_body({"oneOf": [message, {"type": "array", "items": message}]}),
        "responses": _responses(401, 404, 413, 415),
    }


def _health_operation() -> dict[str, Any]:
    return {
        "summary": "The process is alive",
        "operationId": "healthz",
        "responses": {"200": {"description": "alive", "content": {JSON: {"schema": {}}}}},
    }


def _ready_operation() -> dict[str, Any]:
    return {
        "summary": "Kafka answers: requests can be acknowledged",
        "operationId": "readyz",
        "responses": {
            "200": {"description": "ready", "content": {JSON: {"schema": {}}}},
            "503": {"description": "Kafka is unreachable", **ERROR_CONTENT},
        },
    }


def _metrics_operation() -> dict[str, Any]:
    return {
        "summary": "Prometheus metrics (traitflow_bridge_*)",
        "operationId": "metrics",
        "responses": {"200": text_response("text exposition format")},
    }


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _responses(*refusals: int) -> dict[str, Any]:
    described = {
        400: "Not JSON, or messages rejected (each by index; the valid ones were accepted)",
        401: "Missing or unknown write key, or a bad signature",
        404: "The webhook is not enabled (no shared secret configured)",
        413: "Request body or batch too large",
        415: "Content-Encoding other than gzip, deflate or none",
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "Every message accepted and acknowledged by Kafka",
            "content": {JSON: {"schema": ref(Accepted)}},
        },
        "400": {"description": described[400], **ERROR_CONTENT},
        "503": {
            "description": "Kafka did not acknowledge in time: retry (may repeat a messageId)",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            **ERROR_CONTENT,
        },
    }
    for status in refusals:
        responses[str(status)] = {"description": described[status], **ERROR_CONTENT}
    return responses
