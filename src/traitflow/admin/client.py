"""The CLI's side of the admin API: one GET with the bearer token, errors as one line."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from traitflow.admin.token import admin_token
from traitflow.config import LOOPBACK, Settings
from traitflow.exceptions import TraitflowError

TIMEOUT_S = 60.0


class AdminUnavailable(TraitflowError):
    """No worker answered at the admin URL."""


def admin_base_url(settings: Settings) -> str:
    return (settings.admin_url or f"http://{LOOPBACK}:{settings.web_port}").rstrip("/")


def person_path(person: str, *rest: str) -> str:
    """``/admin/profiles/<person>/...`` with each part escaped (ids may hold ``/`` or ``?``)."""
    parts = [quote(part, safe="") for part in (person, *rest)]
    return "/admin/profiles/" + "/".join(parts)


async def admin_get(settings: Settings, path: str) -> Any:
    """The JSON body of ``GET path`` on a worker; 4xx answers become their message."""
    url = admin_base_url(settings) + path
    headers = {"Authorization": f"Bearer {admin_token(settings, create=False)}"}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            body = await response.json(content_type=None)
            if response.status >= 400:
                message = body.get("message", body) if isinstance(body, dict) else body
                raise TraitflowError(f"{response.status} from {url}: {message}")
            return body
    except aiohttp.ClientConnectionError as exc:
        raise AdminUnavailable(
            f"no worker answers at {admin_base_url(settings)} ({exc}): start one with "
            "`traitflow worker`, or point TRAITFLOW_ADMIN_URL at one"
        ) from None
