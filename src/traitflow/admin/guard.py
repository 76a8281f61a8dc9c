"""Who may read the admin API: a bearer token, or the console's session cookie.

The cookie holds a value derived from the token (HMAC), never the token itself, and is
HttpOnly and SameSite=Strict. A browser sends it to every port of the host, so a request
that changes something must also carry ``X-Traitflow-Console``: a header a page of another
origin cannot add without a CORS preflight, which the worker never grants.
"""

from __future__ import annotations

import hashlib
import hmac
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


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"traitflow console session", hashlib.sha256).hexdigest()


def allowed(request: Any, token: str) -> bool:
    """The bearer token; or the session cookie, with the console's header unless reading."""
    if authorized(request.headers.get("Authorization"), token):
        return True
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or not hmac.compare_digest(cookie.encode(), session_value(token).encode()):
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
