"""Who may read the admin API: a bearer token, or the console's session cookie.

The cookie holds when it expires and an HMAC of that with the token, never the token
itself, and is HttpOnly and SameSite=Strict: a copied cookie stops working when it
expires, whatever the browser does with it. A browser sends it to every port of the
host, so a request that changes something must also carry ``X-Traitflow-Console``: a
header a page of another origin cannot add without a CORS preflight, which the worker
never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from traitflow.admin.documents import Error
from traitflow.admin.token import authorized

Handler = Callable[..., Awaitable[Any]]
Guard = Callable[[Handler], Handler]
SESSION_COOKIE = "traitflow_session"
CONSOLE_HEADER = "X-Traitflow-Console"
READING = frozenset({"GET", "HEAD"})


SESSION_S = 12 * 3600


def session_value(token: str, expires_s: int | None = None) -> str:
    """``<expiry>.<HMAC of it>``: valid until the expiry (default ``SESSION_S`` from now)."""
    expires = int(time.time()) + SESSION_S if expires_s is None else expires_s
    return f"{expires}.{_signature(token, expires)}"


def _signature(token: str, expires: int) -> str:
    message = f"traitflow console session {expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def _valid_session(cookie: str, token: str) -> bool:
    expires, _, signature = cookie.partition(".")
    if not expires.isdigit() or int(expires) <= time.time():
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, int(expires)).encode())


def allowed(request: Any, token: str) -> bool:
    """The bearer token; or the session cookie, with the console's header unless reading."""
    if authorized(request.headers.get("Authorization"), token):
        return True
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or not _valid_session(cookie, token):
        return False
    return request.method in READING or request.headers.get(CONSOLE_HEADER) == "1"


def forwarded_headers(request: Any) -> dict[str, str]:
    """What a request forwarded to another worker carries to be allowed there too."""
    headers = {"Authorization": request.headers.get("Authorization", "")}
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        headers[CONSOLE_HEADER] = request.headers.get(CONSOLE_HEADER, "")
    return headers


def guard(token: str) -> Guard:
    """401 with ``WWW-Authenticate: Bearer`` unless the request is ``allowed``."""

    def guarded(handler: Handler) -> Handler:
        @wraps(handler)
        async def check(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if not allowed(request, token):
                response = error(view, 401, "unauthorized", "Authorization: Bearer <token>")
                response.headers["WWW-Authenticate"] = 'Bearer realm="traitflow"'
                return response
            return await handler(view, request, *args, **kwargs)

        return check

    return guarded


def error(view: Any, status: int, code: str, message: str) -> Any:
    body: Error = {"error": code, "message": message}
    return view.json(body, status=status)
