"""OpenAPI 3.1 description of the worker's web server: admin API, health, metrics."""

from __future__ import annotations

from typing import Any

from traitflow import __version__

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        401: "Missing or wrong bearer token.",
        404: "No such profile or segment.",
        503: "The person's partition has no owner yet (rebalancing).",
    }
    return {str(status): _json(ERROR, texts[status]) for status in statuses}


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


PROFILE = {
    "type": "object",
    "required": ["person", "identities", "traits", "memberships", "computed"],
    "properties": {
        "person": {"type": "string", "description": "The canonical id."},
        "requested": {
            "type": "string",
            "description": "Present when the id asked for was merged into this person.",
        },
        "identities": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The person's other ids (trait ids as <trait>:<value>).",
        },
        "traits": {"type": "object"},
        "memberships": {"type": "object"},
        "computed": {"type": "object"},
        "activity": {
            "type": "array",
            "description": "The events live segments count: per event, the count now, the "
            "window and the latest matching instants (no other event history is kept).",
            "items": {"type": "object"},
        },
    },
}
EXPLANATION = {
    "type": "object",
    "required": ["person", "segment", "member", "matches_now", "explanation", "lines"],
    "properties": {
        "person": {"type": "string"},
        "segment": {"type": "string"},
        "member": {"type": "boolean", "description": "Recorded membership."},
        "matches_now": {"type": "boolean", "description": "The condition evaluated now."},
        "explanation": {"type": "object"},
        "lines": {"type": "array", "items": {"type": "string"}},
    },
}
COUNTS = {
    "type": "object",
    "required": ["segments", "partitions", "by_partition"],
    "properties": {
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "members"],
                "properties": {
                    "key": {"type": "string"},
                    "name": {"type": "string"},
                    "rev": {"type": "string"},
                    "members": {"type": "integer", "minimum": 0},
                },
            },
        },
        "partitions": {
            "type": "object",
            "properties": {
                "counted": {"type": "array", "items": {"type": "integer"}},
                "missing": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "by_partition": {"type": "object"},
    },
}
DELETION = {
    "type": "object",
    "required": ["request", "status"],
    "properties": {
        "request": {"type": "string"},
        "status": {"enum": ["done", "accepted"]},
        "audit": {
            "type": "object",
            "properties": {
                "found": {"type": "boolean"},
                "id_hashes": {"type": "array", "items": {"type": "string"}},
                "segments_exited": {"type": "array", "items": {"type": "string"}},
                "suppressed": {"type": "boolean"},
                "requested_by": {"type": "string"},
            },
        },
    },
}
HEALTH = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}


def admin_openapi() -> dict[str, Any]:
    person = _path_parameter("person", "A userId or anonymousId.", "ada")
    return {
        "openapi": "3.1.0",
        "info": {"title": "traitflow worker", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/admin/profiles/{person}": {
                "get": {
                    "summary": "A person's profile, answered by the worker that owns it.",
                    "security": BEARER,
                    "parameters": [person],
                    "responses": {"200": _json(PROFILE, "The profile."), **_errors(401, 404, 503)},
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
                        "200": _json(DELETION, "Done: the audit record."),
                        "202": _json(DELETION, "Requested; no worker confirmed it within 10 s."),
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
                        "200": _json(EXPLANATION, "The explanation."),
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
                    "responses": {"200": _json(COUNTS, "Counts."), **_errors(401)},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is alive.",
                    "responses": {"200": _json(HEALTH, "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Joined the group, tables recovered, definitions loaded.",
                    "responses": {
                        "200": _json(HEALTH, "Processing."),
                        "503": _json(HEALTH, "Still starting or rebalancing."),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (traitflow_* and Faust's traitflow_faust_*).",
                    "responses": {"200": _text("Text exposition format.")},
                }
            },
        },
    }
