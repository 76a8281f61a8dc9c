"""Prometheus metrics of the bridge, in a registry of its own (one per application)."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest


class BridgeMetrics:
    """Requests by endpoint and status, messages by outcome, request latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "traitflow_bridge_requests",
            "HTTP requests answered by the bridge, by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.messages = Counter(
            "traitflow_bridge_messages",
            "Messages received by the bridge: accepted (acknowledged by Kafka), rejected, or "
            "suppressed (valid, answered as accepted, dropped: they name a suppressed id).",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "traitflow_bridge_request_duration_seconds",
            "Time from request to answer, Kafka acknowledgement included.",
            ["endpoint"],
            registry=self.registry,
        )

    def middleware(self) -> Middleware:
        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:  # 404, 405 from the router
                status = exc.status
                raise
            finally:
                endpoint = _endpoint(request)
                self.requests.labels(endpoint, str(status)).inc()
                self.latency.labels(endpoint).observe(time.perf_counter() - started)

        return observe

    def count_messages(self, accepted: int, rejected: int, suppressed: int = 0) -> None:
        self.messages.labels("accepted").inc(accepted)
        self.messages.labels("rejected").inc(rejected)
        self.messages.labels("suppressed").inc(suppressed)

    async def exposition(self, _: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


def _endpoint(request: web.Request) -> str:
    """The route's pattern, never the raw path: label values stay few."""
    route = request.match_info.route.resource
    if route is None:
        return "unmatched"
    endpoint = request.match_info.get("endpoint")
    return f"/v1/{endpoint}" if endpoint else route.canonical
