"""Who may read the admin API: a bearer token, the console's session cookie, or another
worker of the group's signature.

The cookie holds when it expires and an HMAC of that with the token, never the token
itself, and is HttpOnly and SameSite=Strict: a copied cookie stops working when it
expires, whatever the browser does with it. A browser sends it to every port of the
host, so a request that changes something must also carry ``X-Traitflow-Console``: a
header a page of another origin cannot add without a CORS preflight, which the worker
never grants.

A request one worker makes of another (to gather answers, or to reach a partition's owner)
carries neither the caller's token nor its cookie: it is signed (``X-Traitflow-Signature``,
an HMAC keyed by the token over the method, the full URL it is sent to, a digest of the
body and the time). The receiver accepts it only for its own URL, within
``SIGNATURE_SKEW_S``, and once: a listener that advertised itself as a worker learns no
credential, and can replay what it received to nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import orjson

from traitflow.admin.documents import Error
from traitflow.admin.token import authorized
from traitflow.exceptions import UnreadableRecord

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]
Guard = Callable[[Handler], Handler]
SESSION_COOKIE = "traitflow_session"
CONSOLE_HEADER = "X-Traitflow-Console"
READING = frozenset({"GET", "HEAD"})
SIGNATURE_HEADER = "X-Traitflow-Signature"
SIGNATURE_SKEW_S = 60  # how far a signed request's time may be from the receiver's
MAX_SEEN_SIGNATURES = 10_000


SESSION_S = 12 * 3600


def session_value(token: str, expires_s: int | None = None) -> str:
    """``<expiry>.<session id>.<HMAC of both>``: valid until the expiry (default
    ``SESSION_S`` from now) unless signed out (``Sessions``)."""
    expires = int(time.time()) + SESSION_S if expires_s is None else expires_s
    session = secrets.token_hex(16)
    return f"{expires}.{session}.{_signature(token, expires, session)}"


def _signature(token: str, expires: int, session: str) -> str:
    message = f"traitflow console session {expires} {session}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_of(cookie: str, token: str) -> tuple[str, int] | None:
    """(session id, expiry) of a cookie this token signed and that has not expired."""
    expires, _, rest = cookie.partition(".")
    session, _, signature = rest.partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        return None  # "²" is a digit to isdigit(), and 5,000 digits are too many for int()
    if len(session) != 32 or not session.isascii() or int(expires) <= time.time():
        return None
    expected = _signature(token, int(expires), session)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    return session, int(expires)


class Sessions:
    """Console sessions signed out before they expire. Every worker follows them on the
    compacted sessions topic (``<prefix>-sessions``, ``follow``): a signed-out cookie opens
    nothing on any worker of the group, one started later on an empty disk included.
    Until that topic has been read to its end, and while it cannot be followed, no cookie
    opens anything (the token still does): sign-outs are never missed, only sign-ins
    wait."""

    def __init__(self) -> None:
        self.revoked: dict[str, int] = {}  # session id -> its expiry
        self.following: Callable[[], bool] = lambda: True  # the topic's feed, once given
        self.loaded: Callable[[float], Awaitable[bool]] = _at_once

    def follow(self, following: Callable[[], bool], ready: asyncio.Event) -> None:
        """Sessions as the feed of the sessions topic sees them: ``following`` while it
        reads the topic, ``ready`` once it has read it to its end."""
        self.following = following

        async def loaded(timeout_s: float) -> bool:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout_s)
            return following()

        self.loaded = loaded

    def revoke(self, session: str, expires: int) -> None:
        now = time.time()
        if len(self.revoked) > MAX_SEEN_SIGNATURES:
            self.revoked = {s: until for s, until in self.revoked.items() if until > now}
        if expires > now:
            self.revoked[session] = expires

    def apply_record(self, record: Any) -> None:
        """One record of the sessions topic (its feed skips and counts one it cannot
        read)."""
        try:
            told = orjson.loads(record.value)
            session, expires = str(told["session"]), int(told["expires"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise UnreadableRecord(f"not a signed-out session: {exc}") from exc
        self.revoke(session, expires)

    def open(self, cookie: str, token: str) -> bool:
        found = session_of(cookie, token)
        return found is not None and self.following() and found[0] not in self.revoked


async def _at_once(timeout_s: float) -> bool:
    return True


def revocation(session: str, expires: int) -> tuple[bytes, bytes]:
    """The sessions topic's record of a sign-out: (key, value)."""
    return session.encode(), orjson.dumps({"session": session, "expires": expires})


def allowed(request: Any, token: str, sessions: Sessions | None = None) -> bool:
    """The bearer token; or the session cookie, with the console's header unless reading."""
    if authorized(request.headers.get("Authorization"), token):
        return True
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or not (sessions or Sessions()).open(cookie, token):
        return False
    return request.method in READING or request.headers.get(CONSOLE_HEADER) == "1"


def signed_headers(token: str, method: str, url: str, body: bytes | None) -> dict[str, str]:
    """What a request to another worker carries to be allowed there: a signature, never
    the caller's credentials."""
    at, nonce = int(time.time()), secrets.token_hex(12)
    signature = _request_signature(token, method, url, body or b"", at, nonce)
    return {SIGNATURE_HEADER: f"t={at},n={nonce},v1={signature}"}


def _request_signature(token: str, method: str, url: str, body: bytes, at: int, nonce: str) -> str:
    digest = hashlib.sha256(body).hexdigest()
    message = f"traitflow worker request\n{method.upper()}\n{url}\n{digest}\n{at}\n{nonce}"
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


class Signatures:
    """Checks signed requests addressed to this worker, each accepted once."""

    def __init__(self, token: str, own_url: str) -> None:
        self.token = token
        self.own_url = own_url.rstrip("/")
        self.seen: dict[str, float] = {}  # signature -> when it stops being valid

    async def valid(self, request: Any) -> bool:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return False
        fields = dict(part.partition("=")[::2] for part in header.split(","))
        at, nonce, signature = fields.get("t", ""), fields.get("n", ""), fields.get("v1", "")
        if not (at.isascii() and at.isdigit() and len(at) <= 12):
            return False
        if abs(time.time() - int(at)) > SIGNATURE_SKEW_S:
            return False
        body = await request.read() if request.can_read_body else b""
        url = self.own_url + request.raw_path
        expected = _request_signature(self.token, request.method, url, body, int(at), nonce)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            return False
        now = time.time()
        if len(self.seen) > MAX_SEEN_SIGNATURES:
            self.seen = {sig: until for sig, until in self.seen.items() if until > now}
        if signature in self.seen:
            return False  # replayed
        self.seen[signature] = now + 2 * SIGNATURE_SKEW_S
        return True


def guard(
    token: str, signatures: Signatures | None = None, sessions: Sessions | None = None
) -> Guard:
    """401 with ``WWW-Authenticate: Bearer`` unless the request is ``allowed`` (or signed
    by a worker of the group)."""

    def guarded(handler: Handler) -> Handler:
        @wraps(handler)
        async def check(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            signed = signatures is not None and await signatures.valid(request)
            if not signed and not allowed(request, token, sessions):
                response = error(view, 401, "unauthorized", "Authorization: Bearer <token>")
                response.headers["WWW-Authenticate"] = 'Bearer realm="traitflow"'
                return response
            return await handler(view, request, *args, **kwargs)

        return check

    return guarded


def error(view: Any, status: int, code: str, message: str) -> Any:
    body: Error = {"error": code, "message": message}
    return view.json(body, status=status)
