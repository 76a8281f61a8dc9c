"""OpenAPI 3.1 description of the worker's web server: admin API, health, metrics. The
bodies' schemas are generated from their types (``traitflow.admin.documents``)."""

from __future__ import annotations

import functools
from typing import Any

from traitflow import __version__
from traitflow.admin.documents import (
    Counts,
    DeletionView,
    Error,
    ExplanationView,
    Health,
    ProfileView,
)
from traitflow.openapi import json_response, schemas_of, text_response
from traitflow.profiles import Profile

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# A profile document is the stored profile's fields and what ``ProfileView`` adds.
PROFILE = {"allOf": [{"$ref": "#/components/schemas/Profile"},
                     {"$ref": "#/components/schemas/ProfileView"}]}  # fmt: skip


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        401: "Missing or wrong bearer token.",
        404: "No such profile or segment.",
        503: "The person's partition has no owner yet (rebalancing).",
    }
    return {str(status): json_response(Error, texts[status]) for status in statuses}


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


def _path_parameter(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
        "example": example,
    }


@functools.cache  # built once: pydantic writes the schemas from the types
def admin_openapi() -> dict[str, Any]:
    person = _path_parameter("person", "A userId or anonymousId.", "ada")
    return {
        "openapi": "3.1.0",
        "info": {"title": "traitflow worker", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas_of(
                Profile, ProfileView, ExplanationView, Counts, DeletionView, Error, Health
            ),
        },
        "paths": {
            "/admin/profiles/{person}": {
                "get": {
                    "summary": "A person's profile, answered by the worker that owns it.",
                    "security": BEARER,
                    "parameters": [person],
                    "responses": {
                        "200": json_response(PROFILE, "The profile."),
                        **_errors(401, 404, 503),
                    },
                }
            },
            "/admin/people/{person}": {
                "delete": {
                    "summary": "Delete a person found through any of their ids: exits with "
                    "cause deleted, then profile, ids, schedule and dedup state removed, and "
                    "an audit record written.",
                    "security": BEARER,
                    "parameters": [
                        person,
                        _query("suppress", "true: also drop later messages naming their ids."),
                        _query("by", "Who asks, for the audit record."),
                    ],
                    "responses": {
                        "200": json_response(DeletionView, "Done: the audit record."),
                        "202": json_response(
                            DeletionView, "Requested; no worker confirmed it within 10 s."
                        ),
                        **_errors(401),
                    },
                }
            },
            "/admin/profiles/{person}/segments/{segment}": {
                "get": {
                    "summary": "Why a person is or is not in a segment, condition by condition.",
                    "security": BEARER,
                    "parameters": [
                        person,
                        _path_parameter("segment", "A live segment key.", "trial-users"),
                    ],
                    "responses": {
                        "200": json_response(ExplanationView, "The explanation."),
                        **_errors(401, 404, 503),
                    },
                }
            },
            "/admin/segments": {
                "get": {
                    "summary": "Live segments with member counts over all workers.",
                    "security": BEARER,
                    "parameters": [
                        {
                            "name": "scope",
                            "in": "query",
                            "required": False,
                            "description": "`local`: only this worker's partitions.",
                            "schema": {"type": "string", "enum": ["local", "cluster"]},
                        }
                    ],
                    "responses": {"200": json_response(Counts, "Counts."), **_errors(401)},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is alive.",
                    "responses": {"200": json_response(Health, "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Joined the group, tables recovered, definitions loaded.",
                    "responses": {
                        "200": json_response(Health, "Processing."),
                        "503": json_response(Health, "Still starting or rebalancing."),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (traitflow_* and Faust's traitflow_faust_*).",
                    "responses": {"200": text_response("Text exposition format.")},
                }
            },
        },
    }
