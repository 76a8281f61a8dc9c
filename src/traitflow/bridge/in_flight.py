"""A ceiling on what the bridge holds at once, so a flood (or Kafka down while clients keep
sending) cannot grow it without bound: past it, 503 with Retry-After, as when Kafka is
unreachable. A request counts its declared body size (the largest allowed when it
declares none) from arrival until it is answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from traitflow.bridge.refusals import RequestRefused


class InFlight:
    def __init__(self, max_requests: int, max_bytes: int, retry_after_s: int) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.retry_after_s = retry_after_s
        self.requests = 0
        self.bytes = 0

    @asynccontextmanager
    async def admit(self, request: web.Request, largest: int) -> AsyncIterator[None]:
        declared = request.content_length
        size = largest if declared is None else min(declared, largest)
        if self.requests >= self.max_requests or self.bytes + size > self.max_bytes:
            raise RequestRefused(
                503,
                "busy",
                f"the bridge holds {self.requests} requests ({self.bytes} bytes) already; "
                "retry later",
                {"Retry-After": str(self.retry_after_s)},
            )
        self.requests += 1
        self.bytes += size
        try:
            yield
        finally:
            self.requests -= 1
            self.bytes -= size
