"""A typed Python client of the admin API (the CLI's, and yours).

    async with AdminClient(settings) as admin:
        counts = await admin.segments()
        async for person in admin.all_members("trial-users"):
            ...

Each method returns the body the API documents (the ``TypedDict`` of
``traitflow.admin.documents``); a 4xx answer raises ``AdminError`` with the API's
sentence, and no worker at the address raises ``AdminUnavailable``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlencode

import aiohttp

from traitflow.admin.documents import (
    AppliedView,
    CheckedView,
    Counts,
    DeadLetterView,
    ExplanationView,
    SegmentView,
)
from traitflow.admin.members import MembersPage
from traitflow.admin.preview import PreviewView
from traitflow.admin.sizes import SizePoint, SizesView
from traitflow.admin.token import admin_token
from traitflow.config import LOOPBACK, Settings
from traitflow.exceptions import TraitflowError
from traitflow.httpedge import client_tls

TIMEOUT_S = 60.0


class AdminUnavailable(TraitflowError):
    """No worker answered at the admin URL."""


class AdminError(TraitflowError):
    """The API refused the request; ``status`` and ``code`` say how."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def admin_base_url(settings: Settings) -> str:
    scheme = "https" if settings.web_tls_certfile is not None else "http"
    return (settings.admin_url or f"{scheme}://{LOOPBACK}:{settings.web_port}").rstrip("/")


def person_path(person: str, *rest: str) -> str:
    """``/admin/profiles/<person>/...`` with each part escaped (ids may hold ``/`` or ``?``)."""
    parts = [quote(part, safe="") for part in (person, *rest)]
    return "/admin/profiles/" + "/".join(parts)


def segment_path(key: str, *rest: str) -> str:
    return "/admin/segments/" + "/".join(quote(part, safe="") for part in (key, *rest))


class AdminClient:
    """One HTTP session to a worker's admin API, with the bearer token."""

    def __init__(self, settings: Settings, *, token: str | None = None) -> None:
        self.base = admin_base_url(settings)
        self._tls = client_tls(settings)
        self._token = token or admin_token(settings, create=False)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AdminClient:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            headers={"Authorization": f"Bearer {self._token}"},
            connector=aiohttp.TCPConnector(ssl=self._tls),
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    # -- segments and definitions ------------------------------------------------------

    async def segments(self) -> Counts:
        return cast(Counts, await self.request("GET", "/admin/segments"))

    async def segment(self, key: str) -> SegmentView:
        return cast(SegmentView, await self.request("GET", segment_path(key)))

    async def check(self, text: str) -> CheckedView:
        """Validate YAML or JSON definitions against the live ones; publish nothing."""
        return cast(CheckedView, await self.request("POST", "/admin/definitions/check", text))

    async def preview(self, text: str) -> PreviewView:
        return cast(PreviewView, await self.request("POST", "/admin/definitions/preview", text))

    async def apply(self, text: str) -> AppliedView:
        return cast(AppliedView, await self.request("POST", "/admin/definitions", text))

    async def delete_segment(self, key: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.request("DELETE", segment_path(key)))

    async def members(self, key: str, cursor: str | None = None, limit: int = 100) -> MembersPage:
        query = urlencode({"cursor": cursor or "", "limit": limit})
        return cast(
            MembersPage, await self.request("GET", f"{segment_path(key, 'members')}?{query}")
        )

    async def all_members(self, key: str, page: int = 1000) -> AsyncIterator[str]:
        """Every member, page after page, from every worker."""
        cursor: str | None = None
        while True:
            found = await self.members(key, cursor, page)
            for person in found["members"]:
                yield person
            cursor = found["next"]
            if cursor is None:
                return

    async def sizes(self, key: str) -> list[SizePoint]:
        found = cast(SizesView, await self.request("GET", segment_path(key, "sizes")))
        return found["points"]

    async def history(self, key: str) -> list[dict[str, Any]]:
        return cast(
            list[dict[str, Any]],
            (await self.request("GET", segment_path(key, "history")))["changes"],
        )

    async def backfills(self) -> dict[str, Any]:
        return cast(dict[str, Any], await self.request("GET", "/admin/backfills"))

    # -- people, feeds ---------------------------------------------------------------------

    async def profile(self, person: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.request("GET", person_path(person)))

    async def explain(self, person: str, segment: str) -> ExplanationView:
        path = person_path(person, "segments", segment)
        return cast(ExplanationView, await self.request("GET", path))

    async def dead_letters(self, limit: int = 50) -> list[DeadLetterView]:
        found = await self.request("GET", f"/admin/dead-letters?limit={limit}")
        return cast(list[DeadLetterView], found["dead_letters"])

    async def membership_events(self, limit: int = 50) -> list[dict[str, Any]]:
        found = await self.request("GET", f"/admin/membership?limit={limit}")
        return cast(list[dict[str, Any]], found["events"])

    async def request(self, method: str, path: str, body: str | None = None) -> Any:
        """The JSON body of one request; 4xx/5xx raise ``AdminError`` with the API's text."""
        if self._session is None:
            raise RuntimeError("use AdminClient in `async with`")
        url = self.base + path
        try:
            async with self._session.request(method, url, data=body) as response:
                found = await response.json(content_type=None)
                if response.status >= 400:
                    refused = found if isinstance(found, dict) else {}
                    message = refused.get("message", found)
                    raise AdminError(
                        response.status,
                        str(refused.get("error", "error")),
                        f"{response.status} from {url.split('?')[0]}: {message}",
                    )
                return found
        except aiohttp.ClientConnectionError as exc:
            raise AdminUnavailable(
                f"no worker answers at {self.base} ({exc}): start one with "
                "`traitflow worker`, or point TRAITFLOW_ADMIN_URL at one"
            ) from None
