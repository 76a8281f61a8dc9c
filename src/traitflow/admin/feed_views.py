"""The admin API's recent dead letters and membership events, and the live membership
feed as server-sent events (one group-less consumer per open feed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import faust
import orjson
from aiohttp import web

from traitflow.admin.context import AdminContext
from traitflow.admin.documents import DeadLettersView, RecentEventsView, dead_letter_document
from traitflow.admin.guard import Guard, error
from traitflow.broker.clients import reader
from traitflow.broker.offsets import read_to_end
from traitflow.privacy.requests import deleted_ids
from traitflow.readers.recent import recent_records

log = logging.getLogger(__name__)
RECENT_LIMIT = 500
LIMIT_TEXT = f"limit must be a whole number from 1 to {RECENT_LIMIT}"
KEEPALIVE_S = 15.0


def install_feed_routes(app: faust.App, context: AdminContext, guarded: Guard) -> None:
    settings = context.settings
    closing = asyncio.Event()  # set at shutdown: open feeds end, so the server can stop
    open_feeds = [0]  # each holds a consumer: bounded by admin_max_live_feeds

    @app.on_before_shutdown.connect
    async def end_feeds(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        closing.set()

    @app.page("/admin/dead-letters")
    @guarded
    async def dead_letters(view: Any, request: Any) -> Any:
        records = await _recent(request, settings.topics.deadletter)
        if records is None:
            return error(view, 400, "bad_request", LIMIT_TEXT)
        deleted = await deleted_ids(settings)
        shown = [dead_letter_document(r, context.suppressions, deleted) for r in records]
        body: DeadLettersView = {"dead_letters": shown}
        return view.json(body)

    @app.page("/admin/membership")
    @guarded
    async def membership(view: Any, request: Any) -> Any:
        records = await _recent(request, settings.topics.membership)
        if records is None:
            return error(view, 400, "bad_request", LIMIT_TEXT)
        body: RecentEventsView = {"events": [_json(record.value) for record in records]}
        return view.json(body)

    async def _recent(request: Any, topic: str) -> list[Any] | None:
        """The ``?limit=`` latest records of ``topic``; None when the limit is no number."""
        limit = _limit(request)
        return None if limit is None else await recent_records(settings, topic, limit)

    @app.page("/admin/membership/live")
    @guarded
    async def live(view: Any, request: Any) -> Any:
        """Membership events from now on, as ``text/event-stream`` (one ``data:`` line each)."""
        if open_feeds[0] >= settings.admin_max_live_feeds:
            return error(view, 503, "too_many_feeds", _too_many(settings.admin_max_live_feeds))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        open_feeds[0] += 1
        try:
            with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
                await _stream(settings, request, response, closing)  # until the browser goes
        finally:
            open_feeds[0] -= 1
        return response


def _too_many(most: int) -> str:
    return (f"{most} live feeds are open on this worker, its limit "
            "(TRAITFLOW_ADMIN_MAX_LIVE_FEEDS): close a console tab showing live events, "
            "or ask another worker")  # fmt: skip


async def _stream(
    settings: Any, request: Any, response: web.StreamResponse, closing: asyncio.Event
) -> None:
    async with reader(settings, settings.topics.membership) as consumer:
        await consumer.seek_to_end()
        # Some brokers' "end" is their last batch's first offset: read past what is there.
        await read_to_end(consumer, sorted(consumer.assignment()))
        # Only now the headers: a browser's EventSource says "open" on them, and an event
        # published from then on must reach it (on Apache Kafka the lines above take a
        # second or so, and an event of that second was lost to the viewer).
        await response.prepare(request)
        await response.write(b": connected\n\n")
        quiet_since = time.monotonic()
        while not closing.is_set() and _connected(request):  # its consumer freed at once
            batch = await consumer.getmany(timeout_ms=500)
            lines = [
                b"data: " + orjson.dumps(_json(record.value)) + b"\n\n"
                for records in batch.values()
                for record in records
            ]
            if lines:
                await response.write(b"".join(lines))
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                await response.write(b": keepalive\n\n")  # finds a closed connection
                quiet_since = time.monotonic()


def _connected(request: Any) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _limit(request: Any) -> int | None:
    """``?limit=`` (default 50, at most ``RECENT_LIMIT``); None when it is not a number."""
    text = request.query.get("limit", "50")
    return min(RECENT_LIMIT, max(1, int(text))) if text.strip().isdigit() else None


def _json(raw: bytes | None) -> Any:
    try:
        return orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        return {"unreadable": (raw or b"")[:200].decode(errors="replace")}
