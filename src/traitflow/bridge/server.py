"""The bridge's HTTP layer (aiohttp): routes, body limits and answers.

The rules live in ``intake`` and ``auth``; this module reads bytes, calls them, publishes,
and turns refusals into JSON answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from traitflow.bridge.answers import Rejection, accepted_response, error_response
from traitflow.bridge.auth import WriteKeys, basic_auth_key, verify_signature, webhook_secret
from traitflow.bridge.in_flight import InFlight
from traitflow.bridge.intake import (
    BATCH_ENDPOINTS,
    Envelope,
    Intake,
    Rules,
    decode_json,
    take_in,
    tracking_messages,
    webhook_messages,
)
from traitflow.bridge.metrics import BridgeMetrics
from traitflow.bridge.openapi import openapi_document
from traitflow.bridge.publisher import KafkaUnavailable, Publisher
from traitflow.bridge.refusals import RequestRefused
from traitflow.broker.connection import kafka_options
from traitflow.broker.feed import CompactedFeed
from traitflow.config import Settings
from traitflow.exceptions import ConfigError
from traitflow.httpedge import EdgeLimits, guard_server, runner_options
from traitflow.ingest.messages import MESSAGE_TYPES, Limits
from traitflow.privacy.feed import suppression_feed
from traitflow.privacy.suppressions import Suppressions
from traitflow.timeutil import now_ms

log = logging.getLogger(__name__)
TRACKING_ENDPOINTS = (*MESSAGE_TYPES, *BATCH_ENDPOINTS)
READ_CHUNK = 64 * 1024
FEED_START_S = 30.0  # a bridge waits this long for the suppression list before serving
LINGER_S = 1.0  # how long the rest of an unread body is drained before the connection closes


class Bridge:
    """The request handlers, holding what they share: keys, limits and the publisher."""

    def __init__(
        self, settings: Settings, publisher: Publisher, clock: Callable[[], int] = now_ms
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.clock = clock
        self.metrics = BridgeMetrics()
        self.suppressions = Suppressions(settings.identity_traits)  # ``follow_suppressions``
        self.suppression_feed: CompactedFeed | None = None  # set while it is followed
        self.keys = WriteKeys.from_settings(settings)
        self.secret = webhook_secret(settings)
        tolerance_ms = int(settings.future_tolerance_s * 1000)
        limits = Limits.of(settings)
        self.tracking_rules = Rules(
            settings.max_message_bytes, settings.bridge_max_batch, tolerance_ms, limits
        )
        self.webhook_rules = Rules(
            settings.max_message_bytes, settings.webhook_max_batch, tolerance_ms, limits
        )
        self.in_flight = InFlight(
            settings.bridge_max_in_flight_requests,
            settings.bridge_max_in_flight_bytes,
            settings.bridge_retry_after_s,
        )

    async def tracking(self, request: web.Request) -> web.Response:
        """``POST /v1/<type|batch|import>``: the Segment HTTP Tracking API."""
        endpoint = request.match_info["endpoint"]
        header_key = basic_auth_key(request.headers.get("Authorization"))
        source = self.keys.source_of(header_key) if header_key is not None else None
        async with self.in_flight.admit(request, self.settings.bridge_max_request_bytes):
            raw = await self._read(request, self.settings.bridge_max_request_bytes)
            body = decode_json(raw)
            return await self._track(endpoint, body, header_key, source)

    async def _track(
        self, endpoint: str, body: Any, header_key: str | None, source: str | None
    ) -> web.Response:
        body_key = body.get("writeKey") if isinstance(body, dict) else None
        if body_key is not None and not isinstance(body_key, str):
            raise RequestRefused(400, "bad_write_key", "writeKey must be a string")
        if header_key is None:
            source = self.keys.source_of(body_key)
        envelope = Envelope(received_ms=self.clock(), source=source)
        items, envelope = tracking_messages(endpoint, body, self.tracking_rules, envelope)
        self._refuse_unchecked()
        return await self._publish(take_in(items, envelope, self.tracking_rules, self.suppressions))

    def _refuse_unchecked(self) -> None:
        """Fail closed: while the suppression list is not known (loading, or its feed
        failing), messages are refused with 503, never let through unchecked."""
        feed = self.suppression_feed
        if feed is not None and not feed.following:
            why = "is loading" if feed.failure is None else f"is failing ({feed.failure})"
            raise RequestRefused(
                503, "suppressions_unavailable",
                f"the suppression list {why}: messages cannot be checked against it; retry",
                {"Retry-After": str(self.settings.bridge_retry_after_s)},
            )  # fmt: skip

    async def webhook(self, request: web.Request) -> web.Response:
        """``/webhook``: Segment's webhook destination, verified by ``X-Signature``."""
        if self.secret is None:
            raise RequestRefused(
                404, "webhook_disabled", "the webhook is off: set TRAITFLOW_WEBHOOK_SECRET"
            )
        async with self.in_flight.admit(request, self.settings.webhook_max_request_bytes):
            raw = await self._read(request, self.settings.webhook_max_request_bytes)
            claimed = request.headers.get("X-Signature")
            verify_signature(self.secret, raw, claimed, self.settings.webhook_signature_scope)
            items = webhook_messages(decode_json(raw), self.webhook_rules)
            envelope = Envelope(received_ms=self.clock(), source=self.settings.webhook_source)
            self._refuse_unchecked()
            intake = take_in(items, envelope, self.webhook_rules, self.suppressions)
            return await self._publish(intake)

    async def _read(self, request: web.Request, limit: int) -> bytes:
        """The body, within ``bridge_read_timeout_s``: a client that stalls is answered 408
        and its connection closed, instead of holding it for good."""
        try:
            async with asyncio.timeout(self.settings.bridge_read_timeout_s):
                return await read_body(request, limit)
        except TimeoutError:
            raise RequestRefused(
                408,
                "request_timeout",
                f"the body did not arrive within {self.settings.bridge_read_timeout_s:g}s",
                {"Connection": "close"},
            ) from None

    async def readyz(self, _: web.Request) -> web.Response:
        """Ready when Kafka answers and the suppression list is followed: a load balancer
        then sends no request bound to 503."""
        if not await self.publisher.ready():
            return error_response(503, "kafka_unavailable", "Kafka is unreachable")
        try:
            self._refuse_unchecked()
        except RequestRefused as refused:
            return error_response(503, refused.code, refused.message)
        return web.json_response({"status": "ready"})

    async def _publish(self, intake: Intake) -> web.Response:
        await self.publisher.publish(self.settings.topics.events, intake.records)
        accepted = intake.accepted
        self.metrics.count_messages(len(intake.records), len(intake.rejected), intake.suppressed)
        if not intake.rejected:
            return accepted_response(accepted)
        rejected: list[Rejection] = [
            {"index": r.index, "reason": r.reason} for r in intake.rejected
        ]
        return error_response(
            400,
            "invalid_messages",
            f"{len(rejected)} of {intake.total} messages rejected; {accepted} accepted",
            accepted=accepted,
            rejected=rejected,
        )


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, gzip/deflate-decoded here (not by aiohttp) so that a compressed body is
    refused with 413 as soon as its decoded size passes ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    decoder = _decoder(request.headers.get("Content-Encoding", ""))
    chunks: list[bytes] = []
    received = decoded = 0
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            received += len(chunk)
            if decoder is not None:
                chunk = decoder.decompress(chunk, limit - decoded + 1)
            decoded += len(chunk)
            if decoded > limit or received > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except zlib.error as exc:
        raise RequestRefused(
            400, "bad_encoding", f"the body is not valid gzip/deflate: {exc}"
        ) from exc
    if decoder is not None and not decoder.eof:
        raise RequestRefused(400, "bad_encoding", "the compressed body is truncated")
    return b"".join(chunks)


def _decoder(encoding: str) -> Any:
    """A zlib decoder for gzip or deflate (wbits 47 reads both headers); None for identity."""
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(wbits=47)
    raise RequestRefused(
        415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip or none"
    )


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(413, "too_large", f"the request body exceeds {limit} bytes")


def answers_for(retry_after_s: int) -> Middleware:
    """Middleware turning refusals, bad encodings and Kafka outages into JSON answers."""

    @web.middleware
    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestRefused as refused:
            response = error_response(
                refused.status, refused.code, refused.message, refused.headers
            )
            if (refused.headers or {}).get("Connection") == "close":
                response.force_close()  # the rest of a stalled body is never read
            return response
        except KafkaUnavailable:
            return error_response(
                503,
                "kafka_unavailable",
                "Kafka did not acknowledge in time; retry later",
                headers={"Retry-After": str(retry_after_s)},
            )

    return answer


def create_bridge_app(
    settings: Settings, publisher: Publisher | None = None, follow_suppressions: bool = False
) -> web.Application:
    """The aiohttp application; it closes its publisher on cleanup, and follows the
    suppressions topic while it runs if asked."""
    bridge = Bridge(settings, publisher or Publisher(settings))
    if not bridge.keys and bridge.secret is None:
        raise ConfigError(
            "the bridge has no write key and no webhook secret: set TRAITFLOW_WRITE_KEYS "
            '(JSON, e.g. \'{"my-key": "web"}\') or TRAITFLOW_WRITE_KEYS_FILE'
        )
    app = web.Application(
        middlewares=[bridge.metrics.middleware(), answers_for(settings.bridge_retry_after_s)]
    )
    endpoints = "|".join(TRACKING_ENDPOINTS)
    app.router.add_post(f"/v1/{{endpoint:(?:{endpoints})}}", bridge.tracking)
    for method in ("POST", "PUT", "PATCH"):
        app.router.add_route(method, "/webhook", bridge.webhook)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", bridge.readyz)
    app.router.add_get("/metrics", bridge.metrics.exposition)

    async def close_publisher(_: web.Application) -> None:
        await bridge.publisher.close()

    app.on_cleanup.append(close_publisher)
    if follow_suppressions:
        app.cleanup_ctx.append(_following(settings, bridge))
    return app


def _following(
    settings: Settings, bridge: Bridge
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The suppressions topic, followed in the background while the app runs; the app
    starts once it is loaded, or has failed, or after ``FEED_START_S`` (messages are refused
    until it is loaded)."""

    async def follow(_: web.Application) -> AsyncIterator[None]:
        feed = suppression_feed(
            kafka_options(settings), settings.topics.suppressions, bridge.suppressions
        )
        bridge.suppression_feed = feed
        task = asyncio.create_task(feed.run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.settled.wait(), FEED_START_S)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    return follow


async def _openapi(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@asynccontextmanager
async def running_bridge(settings: Settings) -> AsyncIterator[str]:
    """The bridge listening on its configured address; yields its base URL."""
    limits = EdgeLimits.of(settings)
    runner = web.AppRunner(
        create_bridge_app(settings, follow_suppressions=True),
        access_log=log,
        auto_decompress=False,
        lingering_time=LINGER_S,  # aiohttp's 10 s would hold a refused slow client longer
        **runner_options(limits),
    )
    await runner.setup()
    assert runner.server is not None
    guard_server(runner.server, limits)
    try:
        site = web.TCPSite(runner, settings.bridge_host, settings.bridge_port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"the bridge cannot listen on {settings.bridge_host}:{settings.bridge_port}: "
                f"{exc.strerror} (choose another with --port / TRAITFLOW_BRIDGE_PORT)"
            ) from exc
        url = f"http://{settings.bridge_host}:{settings.bridge_port}"
        log.info("bridge listening on %s", url)
        yield url
    finally:
        await runner.cleanup()


async def serve_bridge(settings: Settings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then finish in-flight requests and close the producer."""
    async with running_bridge(settings):
        await stop.wait()
