"""Who may read the admin API: the bearer token, or the console's cookie (with the
console's header for anything that changes something)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from traitflow.admin.guard import (
    CONSOLE_HEADER,
    SESSION_COOKIE,
    allowed,
    forwarded_headers,
    session_value,
)

TOKEN = "a-token-long-enough-for-tests"


@dataclass
class Request:
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)


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
    stretched = f"{later + 10**6}.{session_value(TOKEN, later).split('.')[1]}"
    assert not allowed(Request("GET", cookies={SESSION_COOKIE: stretched}), TOKEN)
    for junk in ("", ".", "x.y", "-1.abc", "9" * 40):
        assert not allowed(Request("GET", cookies={SESSION_COOKIE: junk}), TOKEN)
    assert not allowed(Request("GET", cookies={SESSION_COOKIE: session_value("other-token-xx")}),
                       TOKEN)  # fmt: skip


def test_a_forwarded_request_carries_the_callers_credentials() -> None:
    headers = forwarded_headers(Request("POST", {CONSOLE_HEADER: "1"}, SESSION))
    assert headers["Cookie"] == f"{SESSION_COOKIE}={SESSION[SESSION_COOKIE]}"
    assert headers[CONSOLE_HEADER] == "1"
