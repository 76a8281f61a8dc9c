"""The edge of every traitflow HTTP server (the bridge, the worker's web port): TLS for the
worker's web port when configured, at most
``max_connections`` open at once, and a connection that has not sent a whole request head
within ``header_timeout_s`` is closed.

aiohttp bounds a request's body (the bridge's read timeout) and idle keep-alive
connections (``keepalive_timeout``), not the time a client takes to send its headers: a
thousand clients that never finished theirs were held, unauthenticated, for minutes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from faust.web.drivers.aiohttp import Web as FaustAiohttpWeb

from traitflow.exceptions import ConfigError

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    max_connections: int = 1000
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 15.0

    @classmethod
    def of(cls, settings: Any) -> EdgeLimits:
        return cls(settings.http_max_connections, settings.http_header_timeout_s,
                   settings.http_keepalive_timeout_s)  # fmt: skip


def guard_server(server: web.Server, limits: EdgeLimits) -> None:
    """Hold ``server`` (a runner's, once set up) to ``limits``."""
    admit = server.connection_made
    refused = [0]
    handle = server.request_handler
    heads: set[Any] = set()  # connections that sent a whole head, until their check

    async def request_handler(request: web.BaseRequest) -> web.StreamResponse:
        heads.add(request.protocol)
        return await handle(request)

    def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
        admit(handler, transport)  # aiohttp sets the connection up whole, then we close it
        loop = asyncio.get_running_loop()
        if len(server.connections) > limits.max_connections:
            refused[0] += 1
            if refused[0] in (1, 10, 100) or refused[0] % 1000 == 0:
                log.warning("refused a connection: %d are open, the limit (%d refused so far)",
                            limits.max_connections, refused[0])  # fmt: skip
            loop.call_soon(_close, handler)
            return
        loop.call_later(limits.header_timeout_s, close_if_headless, handler)

    def close_if_headless(handler: RequestHandler) -> None:
        if handler in heads:
            heads.discard(handler)
        elif handler in server.connections:
            log.info("closed a connection that sent no whole request head in time")
            _close(handler)

    server.connection_made = connection_made  # type: ignore[method-assign]
    server.request_handler = request_handler  # aiohttp's handlers take it when made


def _close(handler: Any) -> None:
    handler.force_close()
    if handler.transport is not None:
        handler.transport.close()


def runner_options(limits: EdgeLimits) -> dict[str, Any]:
    """What an ``AppRunner`` takes for the idle side of the same limits."""
    return {"keepalive_timeout": limits.keepalive_timeout_s}


class Web(FaustAiohttpWeb):
    """Faust's aiohttp web driver (URL ``traitflow://``) with the same edge as the bridge;
    the limits come from ``app.conf`` (set by ``traitflow.worker.app``)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits: EdgeLimits = getattr(app, "edge_limits", EdgeLimits())
        self._runner = web.AppRunner(self.web_app, access_log=None, **runner_options(self.limits))

    async def start_server(self) -> None:
        await self._runner.setup()
        assert self._runner.server is not None
        guard_server(self._runner.server, self.limits)
        site = self._create_site()
        await site.start()


def server_tls(settings: Any) -> ssl.SSLContext | None:
    """The worker's web port's TLS, when ``web_tls_certfile`` is set (None: plain HTTP)."""
    if settings.web_tls_certfile is None:
        return None
    if settings.web_tls_keyfile is None:
        raise ConfigError("TRAITFLOW_WEB_TLS_CERTFILE needs TRAITFLOW_WEB_TLS_KEYFILE too")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.web_tls_certfile, settings.web_tls_keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the web port's certificate or key: {exc}") from None
    return context


def client_tls(settings: Any) -> ssl.SSLContext | bool:
    """How a client (another worker, the CLI) verifies a worker's web port: the CA file,
    else the worker's certificate itself; the system's CAs when TLS is off."""
    cafile = settings.web_tls_cafile or settings.web_tls_certfile
    if cafile is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(cafile))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the web CA file {cafile}: {exc}") from None


def web_url(settings: Any) -> str:
    """This worker's web address as other workers and the CLI reach it."""
    if settings.web_advertised_url:
        return str(settings.web_advertised_url).rstrip("/")
    scheme = "https" if settings.web_tls_certfile is not None else "http"
    return f"{scheme}://{settings.web_host}:{settings.web_port}"


def plaintext_warning(settings: Any) -> str | None:
    """What to say when the web port is reachable beyond this host without TLS."""
    if settings.web_tls_certfile is not None or settings.web_host in LOCAL_HOSTS:
        return None
    return (
        f"the web port binds {settings.web_host}:{settings.web_port} without TLS: the admin "
        "token, the console's cookie and people's data travel in clear. Set "
        "TRAITFLOW_WEB_TLS_CERTFILE and _KEYFILE, or keep the port on a private network "
        "(deploy/kubernetes/networkpolicy.yaml)"
    )
