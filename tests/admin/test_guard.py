"""Who may read the admin API: the bearer token, or the console's cookie (with the
console's header for anything that changes something)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from traitflow.admin.guard import (
    CONSOLE_HEADER,
    SESSION_COOKIE,
    SIGNATURE_HEADER,
    Sessions,
    Signatures,
    allowed,
    revocation,
    session_of,
    session_value,
    signed_headers,
)
from traitflow.exceptions import UnreadableRecord

TOKEN = "a-token-long-enough-for-tests"


@dataclass
class Request:
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    raw_path: str = "/admin/segments?scope=local"
    body: bytes = b""

    @property
    def can_read_body(self) -> bool:
        return bool(self.body)

    async def read(self) -> bytes:
        return self.body


SESSION = {SESSION_COOKIE: session_value(TOKEN)}


def test_the_bearer_token_is_enough_for_any_method() -> None:
    assert allowed(Request("DELETE", {"Authorization": f"Bearer {TOKEN}"}), TOKEN)
    assert not allowed(Request("GET", {"Authorization": "Bearer wrong-but-long-enough"}), TOKEN)
    assert not allowed(Request("GET"), TOKEN)


def test_the_cookie_reads_but_changes_only_with_the_console_header() -> None:
    assert allowed(Request("GET", cookies=SESSION), TOKEN)
    assert not allowed(Request("POST", cookies=SESSION), TOKEN)  # a form on another port
    assert allowed(Request("POST", {CONSOLE_HEADER: "1"}, SESSION), TOKEN)


def test_the_cookie_is_not_the_token_and_a_forged_or_expired_one_fails() -> None:
    assert TOKEN not in session_value(TOKEN)
    assert session_value(TOKEN) != session_value(TOKEN + "x")
    expired = session_value(TOKEN, expires_s=int(time.time()) - 1)
    assert not allowed(Request("GET", cookies={SESSION_COOKIE: expired}), TOKEN)
    later = int(time.time()) + 60
    stretched = f"{later + 10**6}.{session_value(TOKEN, later).split('.', 1)[1]}"
    assert not allowed(Request("GET", cookies={SESSION_COOKIE: stretched}), TOKEN)
    for junk in ("", ".", "x.y", "-1.abc", "9" * 40):
        assert not allowed(Request("GET", cookies={SESSION_COOKIE: junk}), TOKEN)
    assert not allowed(Request("GET", cookies={SESSION_COOKIE: session_value("other-token-xx")}),
                       TOKEN)  # fmt: skip


async def test_a_request_between_workers_is_signed_never_credentialed() -> None:
    """The signature holds for the URL it was sent to, its method and body, once; the
    caller's token and cookie are never in it."""
    own = "http://10.0.0.2:6066"
    path, body = "/admin/segments/trial/preview?scope=local", b"key: trial"
    headers = signed_headers(TOKEN, "POST", own + path, body)
    assert list(headers) == [SIGNATURE_HEADER] and TOKEN not in str(headers)
    worker = Signatures(TOKEN, own)
    other = Signatures(TOKEN, "http://10.0.0.3:6066")
    assert not await other.valid(Request("POST", headers, raw_path=path, body=body))
    assert not await worker.valid(Request("POST", headers, raw_path=path, body=b"key: x"))
    assert not await worker.valid(Request("GET", headers, raw_path=path, body=body))
    assert not await Signatures("another-token-long-enough", own).valid(
        Request("POST", headers, raw_path=path, body=body)
    )
    assert await worker.valid(Request("POST", headers, raw_path=path, body=body))
    assert not await worker.valid(Request("POST", headers, raw_path=path, body=body))  # replay


async def test_old_or_malformed_signatures_are_refused() -> None:
    own, path = "http://127.0.0.1:6066", "/admin/segments"
    worker = Signatures(TOKEN, own)
    old = signed_headers(TOKEN, "GET", own + path, None)
    stamp = int(old[SIGNATURE_HEADER].split(",")[0][2:])
    aged = old[SIGNATURE_HEADER].replace(f"t={stamp}", f"t={stamp - 3600}")
    for header in (aged, "", "t=,v1=", "v1=abc", "t=9" + "9" * 5000 + ",v1=x", "t=²,v1=x"):
        assert not await worker.valid(Request("GET", {SIGNATURE_HEADER: header}, raw_path=path))


def test_a_malformed_cookie_is_refused_not_an_error() -> None:
    for junk in ("².x", "9" * 5000 + ".abc", "١٢٣.abc"):
        assert not allowed(Request("GET", cookies={SESSION_COOKIE: junk}), TOKEN)


def test_a_signed_out_session_opens_nothing_though_unexpired() -> None:
    sessions = Sessions()
    cookie, other = session_value(TOKEN), session_value(TOKEN)
    found = session_of(cookie, TOKEN)
    assert found is not None and session_of(other, TOKEN) != found  # one id each
    sessions.revoke(*found)
    assert not allowed(Request("GET", cookies={SESSION_COOKIE: cookie}), TOKEN, sessions)
    assert allowed(Request("GET", cookies={SESSION_COOKIE: other}), TOKEN, sessions)


def test_sign_outs_come_from_the_sessions_topic_and_none_is_missed() -> None:
    """A worker learns sign-outs from the sessions topic's records (one started later
    reads them all); until it has read the topic, no cookie opens anything."""
    cookie = session_value(TOKEN)
    found = session_of(cookie, TOKEN)
    assert found is not None
    key, value = revocation(*found)
    following = [False]
    sessions = Sessions()
    sessions.follow(lambda: following[0], asyncio.Event())
    assert not sessions.open(cookie, TOKEN)  # the topic not read yet: refused
    following[0] = True
    assert sessions.open(cookie, TOKEN)
    sessions.apply_record(SimpleNamespace(key=key, value=value))
    assert not sessions.open(cookie, TOKEN)
    expired = revocation("expired-long-ago", int(time.time()) - 10)
    sessions.apply_record(SimpleNamespace(key=expired[0], value=expired[1]))
    assert "expired-long-ago" not in sessions.revoked  # its cookie opens nothing anyway
    for junk in (b"{not json", b"[]", b'{"session": "x"}', b'{"session": "x", "expires": "y"}',
                 b'{"session": "x", "expires": 1e400}'):  # fmt: skip
        with pytest.raises(UnreadableRecord):  # the feed skips and counts it
            sessions.apply_record(SimpleNamespace(key=b"k", value=junk))
