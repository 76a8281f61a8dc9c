"""OpenAPI 3.1 description of the worker's web server: admin API, health, metrics. The
bodies' schemas are generated from their types (``traitflow.admin.documents``)."""

from __future__ import annotations

import functools
from typing import Any

from traitflow import __version__
from traitflow.admin.documents import (
    AppliedView,
    BackfillsView,
    CheckedView,
    Counts,
    DeadLettersView,
    DeletedView,
    DeletionView,
    Error,
    ExplanationView,
    Health,
    HistoryView,
    ProfileView,
    RecentEventsView,
    SegmentView,
)
from traitflow.admin.members import MembersPage
from traitflow.admin.preview import PreviewView
from traitflow.admin.sizes import SizesView
from traitflow.openapi import json_response, schemas_of, text_response
from traitflow.profiles import Profile

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# A profile document is the stored profile's fields and what ``ProfileView`` adds.
PROFILE = {"allOf": [{"$ref": "#/components/schemas/Profile"},
                     {"$ref": "#/components/schemas/ProfileView"}]}  # fmt: skip


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "A query parameter is not what the route takes.",
        401: "Missing or wrong bearer token.",
        404: "No such profile or segment.",
        422: "The definitions do not pass the checks of `segments apply`: the message says "
        "which, where, and the likely fix.",
        503: "The person's partition has no owner yet (rebalancing).",
    }
    return {str(status): json_response(Error, texts[status]) for status in statuses}


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


def _count_query(description: str, most: int) -> dict[str, Any]:
    return {"name": "limit", "in": "query", "required": False, "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": most}}  # fmt: skip


def _path_parameter(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
        "example": example,
    }


BODIES = (Profile, ProfileView, ExplanationView, Counts, DeletionView, Error, Health,
          SegmentView, CheckedView, AppliedView, PreviewView, DeletedView, MembersPage,
          SizesView, HistoryView, BackfillsView, DeadLettersView, RecentEventsView)  # fmt: skip


@functools.cache  # built once: pydantic writes the schemas from the types
def admin_openapi() -> dict[str, Any]:
    person = _path_parameter("person", "A userId or anonymousId.", "ada")
    return {
        "openapi": "3.1.0",
        "info": {"title": "traitflow worker", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas_of(*BODIES),
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
            **_segment_paths(),
            **_feed_paths(),
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


DEFINITIONS_BODY = {
    "required": True,
    "description": "Definitions as for `segments apply`: YAML or JSON, one or many.",
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {"schema": {}},
    },
}
SEGMENT = _path_parameter("key", "A live segment key.", "trial-users")


def _guarded(summary: str, body: Any, *errors: int, **more: Any) -> dict[str, Any]:
    """An operation behind the bearer token answering ``body`` (a typed body) on 200."""
    return {
        "summary": summary,
        "security": BEARER,
        **more,
        "responses": {"200": json_response(body, summary), **_errors(401, *errors)},
    }


def _segment_paths() -> dict[str, Any]:
    limit = _count_query("Most members in the page (default 100).", 1000)
    cursor = _query("cursor", "The `next` of the previous page; empty for the first.")
    return {
        "/admin/definitions": {
            "post": _guarded("Publish definitions, as `segments apply` does: checked, "
                             "then a backfill (and a replay of history for new events).",
                             AppliedView, 422, requestBody=DEFINITIONS_BODY),
        },
        "/admin/definitions/check": {
            "post": _guarded("Check definitions against the live ones; publish nothing.",
                             CheckedView, 422, requestBody=DEFINITIONS_BODY),
        },
        "/admin/definitions/preview": {
            "post": _guarded("One segment over the stored profiles, not published: members, "
                             "who would enter and exit (a sample when there are many).",
                             PreviewView, 422, requestBody=DEFINITIONS_BODY),
        },
        "/admin/segments/{key}": {
            "get": _guarded("A live segment's definition.", SegmentView, 404,
                            parameters=[SEGMENT]),
            "delete": _guarded("Delete a segment; its members exit.", DeletedView, 404,
                               parameters=[SEGMENT]),
        },
        "/admin/segments/{key}/members": {
            "get": _guarded("A page of members, from every worker; follow `next` (a page "
                            "may be short).", MembersPage, 400, 404, 503,
                            parameters=[SEGMENT, cursor, limit]),
        },
        "/admin/segments/{key}/sizes": {
            "get": _guarded("Members minute by minute, summed over the workers.", SizesView,
                            parameters=[SEGMENT]),
        },
        "/admin/segments/{key}/history": {
            "get": _guarded("Every applied or deleted revision, with when and by whom.",
                            HistoryView, parameters=[SEGMENT]),
        },
        "/admin/backfills": {
            "get": _guarded("Backfill progress per events partition.", BackfillsView),
        },
    }  # fmt: skip


def _feed_paths() -> dict[str, Any]:
    limit = _count_query("How many (default 50).", 500)
    return {
        "/admin/dead-letters": {
            "get": _guarded("The latest dead letters, with their reasons.", DeadLettersView,
                            400, parameters=[limit]),
        },
        "/admin/membership": {
            "get": _guarded("The latest membership events.", RecentEventsView, 400,
                            parameters=[limit]),
        },
        "/admin/membership/live": {
            "get": {
                "summary": "Membership events from now on, as server-sent events: one "
                "`data:` line of JSON each, a comment line every 15 s of quiet.",
                "security": BEARER,
                "responses": {
                    "200": {"description": "An endless event stream.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    **_errors(401),
                    "503": json_response(Error, "TRAITFLOW_ADMIN_MAX_LIVE_FEEDS feeds are "
                                         "already open on this worker."),
                },
            }
        },
    }  # fmt: skip
