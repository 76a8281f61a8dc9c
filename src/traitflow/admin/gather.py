"""Asking the other workers of the group: their local answers, or the owner of a partition.

The group's assignment (Faust's router metadata of the profiles table) says which worker
holds which partition; the profiles changelog is partitioned as the events topic is.
Requests go only to the URLs of that assignment, signed with the admin token
(``traitflow.admin.guard``): no caller's token or cookie ever leaves the worker.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import aiohttp
import faust
from yarl import URL

from traitflow.admin.guard import signed_headers
from traitflow.config import PROFILES_TABLE

log = logging.getLogger(__name__)
GATHER_TIMEOUT_S = 30.0


class Peers:
    """The other workers of the group, asked with requests signed by the admin token."""

    def __init__(self, app: faust.App, token: str, tls: ssl.SSLContext | bool = True) -> None:
        self.app = app
        self.token = token
        self.tls = tls  # how the other workers' web ports are verified

    def members(self) -> list[str]:
        """The URLs of the group's current members (this worker's included)."""
        metadata = self.app.router.table_metadata(PROFILES_TABLE)
        return sorted(str(host).rstrip("/") for host in metadata)

    def owner_of(self, partition: int) -> str | None:
        """The URL of the worker assigned ``partition`` (None while nobody is)."""
        for host, topics in self.app.router.table_metadata(PROFILES_TABLE).items():
            if any(partition in partitions for partitions in topics.values()):
                return str(host).rstrip("/")
        return None

    def owner_of_key(self, key: str) -> str | None:
        """The URL of the worker holding ``key``'s profile (None while nobody does)."""
        try:
            return str(self.app.router.key_store(PROFILES_TABLE, key)).rstrip("/")
        except KeyError:
            return None

    def is_self(self, url: str) -> bool:
        return url.rstrip("/") == str(self.app.conf.canonical_url).rstrip("/")

    async def gather(self, path: str, body: bytes | None = None) -> list[Any]:
        """Each other worker's JSON answer to ``path`` (a POST when ``body`` is given); a
        worker that does not answer is left out, and the caller lists what is missing."""
        hosts = [host for host in self.members() if not self.is_self(host)]
        timeout = aiohttp.ClientTimeout(total=GATHER_TIMEOUT_S)
        method = "GET" if body is None else "POST"
        async with aiohttp.ClientSession(timeout=timeout, connector=self._connector()) as session:
            answers = await asyncio.gather(
                *(self._ask(session, method, host + path, body) for host in hosts),
                return_exceptions=True,
            )
        found = []
        for host, answer in zip(hosts, answers, strict=True):
            if isinstance(answer, BaseException):
                log.warning("worker %s did not answer %s: %r", host, path.split("?")[0], answer)
            else:
                found.append(answer)
        return found

    async def forward(self, request: Any, url: str) -> tuple[int, Any]:
        """The status and JSON body of the same request made to another worker of the
        group (``url`` on a member's address: anything else is refused)."""
        if not any(url.startswith(member + "/") for member in self.members()):
            raise PermissionError(f"{URL(url).origin()} is no member of the group")
        body = await request.read() if request.can_read_body else None
        timeout = aiohttp.ClientTimeout(total=GATHER_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, connector=self._connector()) as session:
            return await self._request(session, request.method, url, body)

    def _connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(ssl=self.tls)

    async def _ask(
        self, session: aiohttp.ClientSession, method: str, url: str, body: bytes | None
    ) -> Any:
        status, answer = await self._request(session, method, url, body)
        if status >= 400:
            raise RuntimeError(f"answered {status}")
        return answer

    async def _request(
        self, session: aiohttp.ClientSession, method: str, url: str, body: bytes | None
    ) -> tuple[int, Any]:
        """One signed request: the URL signed is the one sent, byte for byte."""
        target = URL(url)
        signed = str(target.origin()) + target.raw_path_qs
        headers = signed_headers(self.token, method, signed, body)
        async with session.request(method, target, data=body, headers=headers) as answer:
            return answer.status, await answer.json(content_type=None)
