"""The admin API on the worker's Faust web server (the thin adapter; bodies are in
``documents``).

A person's requests are answered by the worker that owns the person's partition: Faust's
``table_route`` forwards them there, with the caller's token. Segment counts are gathered
from every worker named in the group's assignment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

import aiohttp
import faust

from traitflow.admin.client import person_path
from traitflow.admin.documents import (
    DeletionView,
    Error,
    counts_document,
    explanation_document,
    merge_counts,
    profile_document,
)
from traitflow.admin.openapi import admin_openapi
from traitflow.admin.token import admin_token, authorized
from traitflow.clock import Clock
from traitflow.config import PROFILES_TABLE, Settings
from traitflow.privacy.requests import delete_person
from traitflow.segments import Registry
from traitflow.worker.counts import MembershipCounts
from traitflow.worker.store.profiles import ProfileStore

log = logging.getLogger(__name__)
Handler = Callable[..., Awaitable[Any]]
GATHER_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AdminContext:
    settings: Settings
    store: ProfileStore
    registry: Registry
    counts: MembershipCounts
    owned: Callable[[], list[int]]
    recovered: Callable[[], bool]  # counting a half-recovered partition would stick
    clock: Clock


def install_admin(app: faust.App, context: AdminContext) -> None:
    """Add the admin routes and ``/openapi.json`` to the worker's web server."""
    token = admin_token(context.settings, create=True)
    guarded = _guard(token)
    profiles: Any = context.store.profiles  # the Faust table

    async def follow(view: Any, request: Any, person: str, *rest: str) -> Any:
        """For an id merged into another person: that person's answer, from its owner."""
        pointer = context.store.canonical_of(person)
        if pointer is None:
            return None
        owner = str(app.router.key_store(PROFILES_TABLE, pointer.to.value)).rstrip("/")
        headers = {"Authorization": request.headers.get("Authorization", "")}
        url = owner + person_path(pointer.to.value, *rest)
        async with app.http_client.get(url, headers=headers) as answer:
            body = await answer.json(content_type=None)
            if answer.status == 200:
                body["requested"] = person
            return view.json(body, status=answer.status)

    @app.page("/openapi.json")
    async def openapi(view: Any, request: Any) -> Any:
        return view.json(admin_openapi())

    @app.page("/admin/profiles/{person}")
    @guarded
    @app.table_route(table=profiles, match_info="person")
    async def profile(view: Any, request: Any, person: str) -> Any:
        found = context.store.load(person.encode())
        if found is None:
            return await follow(view, request, person) or _error(
                view, 404, "not_found", f"no profile for {person!r}"
            )
        now = context.clock.now_ms()
        return view.json(profile_document(person, found, context.registry, now))

    @app.page("/admin/profiles/{person}/segments/{segment}")
    @guarded
    @app.table_route(table=profiles, match_info="person")
    async def explanation(view: Any, request: Any, person: str, segment: str) -> Any:
        if context.registry.get(segment) is None:
            return _error(view, 404, "not_found", f"no live segment {segment!r}")
        found = context.store.load(person.encode())
        if found is None:
            return await follow(view, request, person, "segments", segment) or _error(
                view, 404, "not_found", f"no profile for {person!r}"
            )
        now = context.clock.now_ms()
        return view.json(explanation_document(person, found, context.registry, segment, now))

    @app.page("/admin/people/{person}")
    class People(faust.web.View):
        @guarded
        async def delete(self, request: Any, person: str) -> Any:
            """Delete the person (``?suppress=true``: and drop their later messages)."""
            suppress = request.query.get("suppress", "false").lower() in ("true", "1", "yes")
            by = f"admin-api:{request.query.get('by') or request.remote or 'unknown'}"
            audit, request_id = await delete_person(context.settings, person, by, suppress)
            if audit is None:
                accepted: DeletionView = {"request": request_id, "status": "accepted"}
                return self.json(accepted, status=202)
            done: DeletionView = {"request": request_id, "status": "done", "audit": audit}
            return self.json(done)

    @app.page("/admin/segments")
    @guarded
    async def segments(view: Any, request: Any) -> Any:
        counted = context.counts.of(context.owned()) if context.recovered() else {}
        local = counts_document(context.registry, counted, context.settings.partitions)
        if request.query.get("scope") == "local":
            return view.json(local)
        others = await _gather_from_other_workers(app, request.headers.get("Authorization"))
        partitions = context.settings.partitions
        return view.json(merge_counts(context.registry, [local, *others], partitions))


def _guard(token: str) -> Callable[[Handler], Handler]:
    """401 with ``WWW-Authenticate: Bearer`` unless the request carries the token."""

    def guarded(handler: Handler) -> Handler:
        @wraps(handler)
        async def check(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not authorized(request.headers.get("Authorization"), token):
                response = _error(view, 401, "unauthorized", "Authorization: Bearer <token>")
                response.headers["WWW-Authenticate"] = 'Bearer realm="traitflow"'
                return response
            return await handler(view, request, *args, **kwargs)

        return check

    return guarded


def _error(view: Any, status: int, code: str, message: str) -> Any:
    body: Error = {"error": code, "message": message}
    return view.json(body, status=status)


async def _gather_from_other_workers(app: faust.App, authorization: str | None) -> list[Any]:
    """Each other worker's local counts; a worker that does not answer is left out (its
    partitions are then listed as missing)."""
    hosts = set(app.router.table_metadata(PROFILES_TABLE))
    hosts.discard(str(app.conf.canonical_url))
    headers = {"Authorization": authorization or ""}
    timeout = aiohttp.ClientTimeout(total=GATHER_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        answers = await asyncio.gather(
            *(_local_counts(session, host) for host in sorted(hosts)), return_exceptions=True
        )
    found = []
    for host, answer in zip(sorted(hosts), answers, strict=True):
        if isinstance(answer, BaseException):
            log.warning("worker %s did not give its counts: %r", host, answer)
        else:
            found.append(answer)
    return found


async def _local_counts(session: aiohttp.ClientSession, host: str) -> Any:
    async with session.get(f"{host.rstrip('/')}/admin/segments?scope=local") as response:
        response.raise_for_status()
        return await response.json()
