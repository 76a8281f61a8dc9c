"""The admin API on the worker's Faust web server (the thin adapter; bodies are in
``documents``): people here, segments in ``segment_views``, feeds in ``feed_views``. The
console's pages (``traitflow.console``) are built on it, installed next to it by
``traitflow worker``.

A person's requests are answered by the worker that owns the person's partition: they are
forwarded there signed (``traitflow.admin.gather``), never with the caller's credentials.
Segment counts, previews and sizes are gathered from every worker named in the group's
assignment, the same way.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import faust
from aiohttp import web
from prometheus_client import Gauge

from traitflow.admin.client import person_path
from traitflow.admin.context import AdminContext
from traitflow.admin.documents import (
    DeletionView,
    explanation_document,
    profile_document,
)
from traitflow.admin.feed_views import install_feed_routes
from traitflow.admin.gather import Peers
from traitflow.admin.guard import Handler, Sessions, Signatures, error, guard, revocation
from traitflow.admin.openapi import admin_openapi
from traitflow.admin.segment_views import install_segment_routes
from traitflow.admin.token import admin_token, authorized
from traitflow.broker.connection import kafka_options
from traitflow.broker.feed import CompactedFeed
from traitflow.httpedge import client_tls
from traitflow.privacy.requests import delete_person
from traitflow.worker.metrics import WorkerMetrics
from traitflow.worker.timers import run_every

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdminAccess:
    """What the console shares with the admin API it is built on: the token, and the
    console sessions signed out (followed on the sessions topic)."""

    token: str
    sessions: Sessions
    signed_out: Callable[[str, int], Awaitable[None]]  # records a sign-out for every worker


def install_admin(app: faust.App, context: AdminContext, metrics: WorkerMetrics) -> AdminAccess:
    """Add the admin routes and ``/openapi.json`` to the worker's web server, and sample
    segment sizes (the console's lines, the ``traitflow_segment_members`` gauge) every
    ``size_sample_s``; what the console (``traitflow.console.views``) needs."""
    token = admin_token(context.settings, create=True)
    settings = context.settings
    sessions = Sessions()
    feed = CompactedFeed(kafka_options(settings), settings.topics.sessions, sessions.apply_record)
    sessions.follow(lambda: feed.following, feed.ready)
    metrics.feed_skipped.labels(settings.topics.sessions).set_function(lambda: feed.skipped)
    app.task(feed.run)

    async def signed_out(session: str, expires: int) -> None:
        key, value = revocation(session, expires)
        await app.producer.send_and_wait(settings.topics.sessions, key, value, 0, None, None)

    guarded = guard(token, Signatures(token, str(app.conf.canonical_url)), sessions)
    if context.settings.metrics_require_token:
        server: Any = app.web  # Faust's aiohttp driver: its application takes middlewares
        server.web_app.middlewares.append(_metrics_guard(token))
    peers = Peers(app, token, client_tls(context.settings))

    async def follow(view: Any, request: Any, person: str, *rest: str) -> Any:
        """For an id merged into another person: that person's answer, from its owner."""
        pointer = context.store.canonical_of(person)
        if pointer is None:
            return None
        owner = peers.owner_of_key(pointer.to.value)
        if owner is None:
            return error(view, 503, "unavailable", "the person's partition has no owner yet")
        status, body = await peers.forward(request, owner + person_path(pointer.to.value, *rest))
        if status == 200:
            body["requested"] = person
        return view.json(body, status=status)

    def at_owner(handler: Handler) -> Handler:
        """Answered by the worker holding the ``person``'s profile (signed, forwarded)."""

        @functools.wraps(handler)
        async def route(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            owner = peers.owner_of_key(request.match_info["person"])
            if owner is None:
                return error(view, 503, "unavailable", "the person's partition has no owner yet")
            if peers.is_self(owner):
                return await handler(view, request, *args, **kwargs)
            status, body = await peers.forward(request, owner + request.raw_path)
            return view.json(body, status=status)

        return route

    @app.page("/openapi.json")
    async def openapi(view: Any, request: Any) -> Any:
        return view.json(admin_openapi())

    @app.page("/admin/profiles/{person}")
    @guarded
    @at_owner
    async def profile(view: Any, request: Any, person: str) -> Any:
        found = context.store.read(person.encode())
        if found is None:
            return await follow(view, request, person) or error(
                view, 404, "not_found", f"no profile for {person!r}"
            )
        now = context.clock.now_ms()
        return view.json(profile_document(person, found, context.registry, now))

    @app.page("/admin/profiles/{person}/segments/{segment}")
    @guarded
    @at_owner
    async def explanation(view: Any, request: Any, person: str, segment: str) -> Any:
        if context.registry.get(segment) is None:
            return error(view, 404, "not_found", f"no live segment {segment!r}")
        found = context.store.read(person.encode())
        if found is None:
            return await follow(view, request, person, "segments", segment) or error(
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

    install_segment_routes(app, context, guarded, peers)
    install_feed_routes(app, context, guarded)

    gauge = Gauge(
        "traitflow_segment_members",
        "Members per live segment on this worker's partitions, sampled every size_sample_s.",
        ["segment"],
        registry=metrics.registry,
    )

    shown: set[str] = set()

    async def sample_sizes() -> None:
        sample_segment_sizes(context, gauge, shown)

    async def sample_every() -> None:
        await run_every(context.settings.size_sample_s, sample_sizes, "sampling segment sizes")

    app.task(sample_every)
    return AdminAccess(token, sessions, signed_out)


def sample_segment_sizes(context: AdminContext, gauge: Gauge, shown: set[str]) -> None:
    """Members per live segment over the partitions this worker holds now, into the size
    history and the gauge (skipped while a partition recovers: its counts would stick)."""
    if not context.recovered():
        return
    totals: dict[str, int] = {}
    for counted in context.counts.of(context.owned()).values():
        for key, members in counted.items():
            totals[key] = totals.get(key, 0) + members
    live = {segment.key: totals.get(segment.key, 0) for segment in context.registry.all()}
    context.sizes.record(context.clock.now_ms(), live)
    for gone in shown - set(live):  # a deleted segment's line goes
        gauge.remove(gone)
    shown.clear()
    shown.update(live)
    for key, members in live.items():
        gauge.labels(key).set(members)


def _metrics_guard(token: str) -> Any:
    """``/metrics`` (Faust serves it) only with the bearer token."""

    @web.middleware
    async def metrics_guard(request: web.Request, handler: Any) -> Any:
        if request.path == "/metrics" and not authorized(
            request.headers.get("Authorization"), token
        ):
            return web.json_response(
                {"error": "unauthorized", "message": "Authorization: Bearer <token>"},
                status=401, headers={"WWW-Authenticate": 'Bearer realm="traitflow"'},
            )  # fmt: skip
        return await handler(request)

    return metrics_guard
