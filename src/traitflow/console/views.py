"""Serving the console and signing in to it.

The page itself holds no data, so it is served to anyone; what it shows comes from the
admin API, which asks for the session cookie set here in exchange for the admin token.
Every asset ships in this package: nothing is fetched from the network at run time.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import faust
import orjson

from traitflow.admin.guard import SESSION_COOKIE, SESSION_S, error, session_of, session_value
from traitflow.admin.views import AdminAccess

log = logging.getLogger(__name__)
SESSIONS_WAIT_S = 10.0  # a sign-in just after start waits this long for the sessions topic
STATIC = files("traitflow.console") / "static"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class FailedSignIns:
    """Failed sign-ins per caller address: past ``MAX_FAILURES`` in ``WINDOW_S``, that
    address waits until the oldest leaves the window (1,000 guesses once ran at 4,600/s)."""

    MAX_FAILURES = 10
    WINDOW_S = 60

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.seen: dict[str, deque[float]] = {}

    def failed(self, caller: str) -> int:
        times = self._recent(caller)
        times.append(self.clock())
        if len(self.seen) > 10_000:  # callers of long ago
            since = self.clock() - self.WINDOW_S
            self.seen = {c: t for c, t in self.seen.items() if t and t[-1] > since}
        return len(times)

    def wait_s(self, caller: str) -> int:
        times = self._recent(caller)
        if len(times) < self.MAX_FAILURES:
            return 0
        return max(1, math.ceil(times[0] + self.WINDOW_S - self.clock()))

    def _recent(self, caller: str) -> deque[float]:
        times = self.seen.setdefault(caller, deque())
        while times and times[0] <= self.clock() - self.WINDOW_S:
            times.popleft()
        return times


def install_console(app: faust.App, access: AdminAccess) -> None:
    """``/console/`` and its assets, and ``/console/session`` to sign in and out."""
    token, sessions, failures = access.token, access.sessions, FailedSignIns()

    @app.page("/console")
    async def bare(view: Any, request: Any) -> Any:
        return _with_headers(view.html("", status=308), Location="/console/")

    @app.page("/console/")
    async def index(view: Any, request: Any) -> Any:
        return _with_headers(view.html((STATIC / "index.html").read_text()))

    @app.page("/console/session")
    class Session(faust.web.View):
        async def post(self, request: Any) -> Any:
            """Sign in: ``{"token": ...}`` sets the session cookie (HttpOnly, Strict)."""
            caller = request.remote or "unknown"
            wait = failures.wait_s(caller)
            if wait:
                why = f"too many failed sign-ins from {caller}; retry in {wait} s"
                answer = error(self, 429, "too_many_attempts", why)
                answer.headers["Retry-After"] = str(wait)
                return answer
            given = _token_in(await request.read())
            if not await sessions.loaded(SESSIONS_WAIT_S):
                why = ("console sessions cannot be checked yet: the sessions topic is not "
                       "read to its end (the admin token still works)")  # fmt: skip
                return error(self, 503, "sessions_unavailable", why)
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                count = failures.failed(caller)
                log.warning("failed console sign-in from %s (%d in the last minute)",
                            caller, count)  # fmt: skip
                return error(self, 401, "unauthorized", "that is not the admin token")
            response: Any = self.json({"signed_in": True})
            response.set_cookie(
                SESSION_COOKIE, session_value(token), httponly=True, samesite="Strict",
                path="/", max_age=SESSION_S, secure=request.secure,  # Secure under HTTPS
            )  # fmt: skip
            return response

        async def delete(self, request: Any) -> Any:
            """Sign out: the cookie is revoked here at once, and recorded on the sessions
            topic for every worker, those started later included (a copy of it opens
            nothing), then deleted from the browser. Not recorded (Kafka refused it):
            503, and the cookie kept, to sign out again."""
            found = session_of(request.cookies.get(SESSION_COOKIE, ""), token)
            if found is not None:
                sessions.revoke(*found)
                try:
                    await access.signed_out(*found)
                except Exception as exc:  # Kafka unreachable or refusing: say so
                    log.warning("a console sign-out could not be recorded: %r", exc)
                    why = ("signed out on this worker only: the sign-out could not be "
                           "recorded for the others; sign out again")  # fmt: skip
                    return error(self, 503, "sign_out_not_recorded", why)
            response: Any = self.json({"signed_in": False})
            response.del_cookie(SESSION_COOKIE, path="/")
            return response

    @app.page("/console/{asset}")
    async def asset(view: Any, request: Any, asset: str) -> Any:
        if asset not in ASSETS:
            return error(view, 404, "not_found", f"no console asset {asset!r}")
        body = (STATIC / asset).read_bytes()
        return _with_headers(view.bytes(body, content_type=ASSETS[asset]))


def _token_in(body: bytes) -> str | None:
    try:
        found = orjson.loads(body).get("token")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return found.strip() if isinstance(found, str) else None


def _with_headers(response: Any, **extra: str) -> Any:
    response.headers.update({**SECURITY_HEADERS, **extra})
    return response
