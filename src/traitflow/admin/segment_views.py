"""The admin API's segment routes: definitions (check, preview, apply, delete), members,
sizes over time and history (the thin adapter; bodies are built in ``documents``,
``preview``, ``members`` and ``sizes``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import yaml

from traitflow.admin.context import AdminContext
from traitflow.admin.documents import (
    AppliedView,
    BackfillsView,
    CheckedView,
    DeletedView,
    HistoryView,
    SegmentView,
    applied_document,
    checked_document,
    counts_document,
    merge_counts,
)
from traitflow.admin.gather import Peers
from traitflow.admin.guard import Guard, Handler, error
from traitflow.admin.members import BadCursor, Cursor, MembersPage, local_page
from traitflow.admin.preview import Preview, merge_previews
from traitflow.admin.sizes import SizesView, merge_series
from traitflow.admin.slices import in_slices
from traitflow.catalog.history import history_of
from traitflow.catalog.topic import apply_definitions, backfill_status, checked, delete_segment
from traitflow.exceptions import InvalidDefinition
from traitflow.segments import Registry
from traitflow.segments.definition import Definition, Segment, parse_definitions

log = logging.getLogger(__name__)
PREVIEW_CHUNK = 500  # profiles read between two yields to the worker's event loop
MEMBERS_LIMIT = 1000
MEMBERS_SCAN = 20_000  # profiles one members request reads at most


def install_segment_routes(
    app: faust.App, context: AdminContext, guarded: Guard, peers: Peers
) -> None:
    """Add the segment and definition routes to the worker's web server."""

    @app.page("/admin/segments")
    @guarded
    async def segments(view: Any, request: Any) -> Any:
        counted = context.counts.of(context.owned()) if context.recovered() else {}
        local = counts_document(context.registry, counted, context.settings.partitions)
        if request.query.get("scope") == "local":
            return view.json(local)
        others = await peers.gather("/admin/segments?scope=local")
        partitions = context.settings.partitions
        return view.json(merge_counts(context.registry, [local, *others], partitions))

    @app.page("/admin/backfills")
    @guarded
    async def backfills(view: Any, request: Any) -> Any:
        """Per events partition: the definitions version its profiles are decided at."""
        progress = await backfill_status(context.settings)
        body: BackfillsView = {"version": context.registry.version, "partitions": progress}
        return view.json(body)

    @app.page("/admin/definitions/check")
    class Check(faust.web.View):
        @guarded
        async def post(self, request: Any) -> Any:
            """Validate definitions against the live ones, publishing nothing."""
            return await _checked(self, request, context, _check)

    previewed = _previewed(peers)  # its lock shared by every preview request

    @app.page("/admin/definitions/preview")
    class PreviewRoute(faust.web.View):
        @guarded
        async def post(self, request: Any) -> Any:
            """One segment's members and differences over the stored profiles."""
            return await _checked(self, request, context, previewed)

    @app.page("/admin/definitions")
    class Apply(faust.web.View):
        @guarded
        async def post(self, request: Any) -> Any:
            """Publish definitions: the same checks and backfill as ``segments apply``."""
            return await _checked(self, request, context, _apply)

    @app.page("/admin/segments/{key}")
    class One(faust.web.View):
        @guarded
        async def get(self, request: Any, key: str) -> Any:
            segment = context.registry.get(key)
            if segment is None:
                return error(self, 404, "not_found", f"no live segment {key!r}")
            body: SegmentView = {
                "key": segment.key,
                "name": segment.name,
                "rev": segment.rev,
                "spec": segment.spec,
                "yaml": yaml.safe_dump(segment.spec, sort_keys=False),
            }
            return self.json(body)

        @guarded
        async def delete(self, request: Any, key: str) -> Any:
            """Remove a definition; workers stop evaluating it."""
            try:
                version = await delete_segment(context.settings, key, _caller(request))
            except InvalidDefinition as exc:
                return error(self, 404, "not_found", str(exc))
            deleted: DeletedView = {"deleted": key, "version": version}
            return self.json(deleted)

    @app.page("/admin/segments/{key}/members")
    @guarded
    async def members(view: Any, request: Any, key: str) -> Any:
        if context.registry.get(key) is None:
            return error(view, 404, "not_found", f"no live segment {key!r}")
        try:
            cursor = Cursor.decode(request.query.get("cursor"))
            limit = min(MEMBERS_LIMIT, max(1, int(request.query.get("limit", "100"))))
        except (BadCursor, ValueError) as exc:
            return error(view, 400, "bad_request", str(exc) or "limit must be a number")
        return await _members_page(peers, view, request, context, key, cursor, limit)

    @app.page("/admin/segments/{key}/sizes")
    @guarded
    async def sizes(view: Any, request: Any, key: str) -> Any:
        local: SizesView = {"segment": key, "points": context.sizes.series(key)}
        if request.query.get("scope") == "local":
            return view.json(local)
        others = await peers.gather(f"{request.path}?scope=local")
        points = merge_series(found["points"] for found in [local, *others])
        merged: SizesView = {"segment": key, "points": points}
        return view.json(merged)

    @app.page("/admin/segments/{key}/history")
    @guarded
    async def history(view: Any, request: Any, key: str) -> Any:
        body: HistoryView = {"key": key, "changes": await history_of(context.settings, key)}
        return view.json(body)


async def _checked(view: Any, request: Any, context: AdminContext, then: Handler) -> Any:
    """Parse and check the body's definitions, then answer with ``then``; 422 with what is
    wrong (the same sentence as the CLI's) when they do not pass. Parsing and checking run
    in a thread, on a copy of the live definitions taken here: 10,000 definitions took
    7.7 s, and the worker's batches must go on meanwhile."""
    text = (await request.read()).decode("utf-8", errors="replace")
    live: list[Definition] = [
        *context.registry.computed.values(),
        *context.registry.segments.values(),
    ]
    try:
        definitions, registry = await asyncio.to_thread(_parse_and_check, live, text)
        return await then(view, request, context, definitions, registry)
    except InvalidDefinition as exc:
        return error(view, 422, "invalid_definition", str(exc))


def _parse_and_check(live: list[Definition], text: str) -> tuple[list[Definition], Registry]:
    definitions = parse_definitions(text, "request")
    return definitions, checked(Registry(live), definitions)


async def _check(view: Any, request: Any, context: AdminContext, definitions: list[Definition],
                 registry: Any) -> Any:  # fmt: skip
    body: CheckedView = checked_document(definitions, context.registry)
    return view.json(body)


async def _apply(view: Any, request: Any, context: AdminContext, definitions: list[Definition],
                 registry: Any) -> Any:  # fmt: skip
    lines = checked_document(definitions, context.registry)  # before the feed changes it
    applied = await apply_definitions(context.settings, definitions, by=_caller(request))
    body: AppliedView = applied_document(lines, applied)
    return view.json(body)


def _previewed(peers: Peers) -> Handler:
    running = asyncio.Lock()  # one preview at a time on this worker

    async def previewed(view: Any, request: Any, context: AdminContext,
                        definitions: list[Definition], registry: Any) -> Any:  # fmt: skip
        candidates = [d for d in definitions if isinstance(d, Segment)]
        if len(candidates) != 1:
            raise InvalidDefinition(f"a preview needs one segment; the text has {len(candidates)}")
        if running.locked():
            answer = error(view, 503, "busy", "a preview is running on this worker; retry soon")
            answer.headers["Retry-After"] = "1"
            return answer
        async with running:
            local = await _local_preview(context, candidates[0], registry)
        if request.query.get("scope") == "local":
            return view.json(local)
        body = await request.read()
        others = await peers.gather(f"{request.path}?scope=local", body)
        return view.json(merge_previews([local, *others]))

    return previewed


async def _local_preview(context: AdminContext, candidate: Segment, registry: Any) -> Any:
    """The preview over this worker's partitions, the first profiles of each when they hold
    more than the worker reads for a preview."""
    owned = context.owned() if context.recovered() else []
    preview = Preview(candidate, registry, context.registry, context.clock.now_ms())
    each = max(1, context.settings.preview_max_profiles // max(1, len(owned)))
    held = 0
    for partition in owned:
        after, left = None, each
        while left > 0:
            keys = context.store.profile_keys(partition, after, min(PREVIEW_CHUNK, left))
            if not keys:
                break
            # the worker's batches go on every SLICE_S, whatever one profile costs
            await in_slices(_readable(context, keys), lambda found: preview.scan([found]))
            after, left = keys[-1], left - len(keys)
            await asyncio.sleep(0)
        read = each - left
        # All read: the count is exact. Cut short: RocksDB's estimate of what it holds.
        held += read if left > 0 else max(read, context.store.profile_count(partition))
    return preview.document(held, owned)


def _readable(context: AdminContext, keys: list[bytes]) -> Any:
    for key in keys:
        profile = context.store.read(key)
        if profile is not None:
            yield profile.person, profile


async def _members_page(peers: Peers, view: Any, request: Any, context: AdminContext,
                        key: str, cursor: Cursor, limit: int) -> Any:  # fmt: skip
    """Read this worker's partitions from the cursor on, at most ``MEMBERS_SCAN`` profiles
    (a page may then be short: follow ``next``); hand a partition another worker owns to
    that worker (or stop there when this page already has members)."""
    found: list[str] = []
    partitions, budget = context.settings.partitions, MEMBERS_SCAN
    while cursor.partition < partitions and len(found) < limit and budget > 0:
        if cursor.partition not in context.owned():
            if found:
                break
            owner = peers.owner_of(cursor.partition)
            if owner is None or peers.is_self(owner):
                why = f"partition {cursor.partition} has no owner yet (rebalancing)"
                return error(view, 503, "unavailable", why)
            url = f"{owner}{request.path}?cursor={cursor.encode()}&limit={limit}"
            status, body = await peers.forward(request, url)
            return view.json(body, status=status)
        page, cursor, read = local_page(context.store, key, cursor, limit - len(found), budget)
        found.extend(page)
        budget -= read
        await asyncio.sleep(0)
    following = cursor.encode() if cursor.partition < partitions else None
    answer: MembersPage = {"segment": key, "members": found, "next": following}
    return view.json(answer)


def _caller(request: Any) -> str:
    """Who changed a definition, for its history: the console or an API client, and from where."""
    how = "console" if request.headers.get("X-Traitflow-Console") else "admin-api"
    return f"{how}:{request.remote or 'unknown'}"
