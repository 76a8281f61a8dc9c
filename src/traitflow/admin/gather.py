"""Asking the other workers of the group: their local answers, or the owner of a partition.

The group's assignment (Faust's router metadata of the profiles table) says which worker
holds which partition; the profiles changelog is partitioned as the events topic is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import faust

from traitflow.admin.guard import forwarded_headers
from traitflow.config import PROFILES_TABLE

log = logging.getLogger(__name__)
GATHER_TIMEOUT_S = 30.0


def owner_of(app: faust.App, partition: int) -> str | None:
    """The URL of the worker assigned ``partition`` (None while nobody is)."""
    for host, topics in app.router.table_metadata(PROFILES_TABLE).items():
        if any(partition in partitions for partitions in topics.values()):
            return str(host).rstrip("/")
    return None


def is_self(app: faust.App, url: str) -> bool:
    return url.rstrip("/") == str(app.conf.canonical_url).rstrip("/")


async def from_other_workers(
    app: faust.App, request: Any, path: str, body: bytes | None = None
) -> list[Any]:
    """Each other worker's JSON answer to ``path`` (a POST when ``body`` is given); a worker
    that does not answer is left out, and the caller lists what is then missing."""
    hosts = sorted(set(map(str, app.router.table_metadata(PROFILES_TABLE))) - {_self(app)})
    timeout = aiohttp.ClientTimeout(total=GATHER_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, headers=forwarded_headers(request)) as s:
        answers = await asyncio.gather(
            *(_ask(s, host.rstrip("/") + path, body) for host in hosts), return_exceptions=True
        )
    found = []
    for host, answer in zip(hosts, answers, strict=True):
        if isinstance(answer, BaseException):
            log.warning("worker %s did not answer %s: %r", host, path.split("?")[0], answer)
        else:
            found.append(answer)
    return found


async def forward(app: faust.App, request: Any, url: str) -> tuple[int, Any]:
    """The status and JSON body of the same request made to another worker."""
    timeout = aiohttp.ClientTimeout(total=GATHER_TIMEOUT_S)
    body = await request.read() if request.can_read_body else None
    async with (
        aiohttp.ClientSession(timeout=timeout, headers=forwarded_headers(request)) as session,
        session.request(request.method, url, data=body) as answer,
    ):
        return answer.status, await answer.json(content_type=None)


def _self(app: faust.App) -> str:
    return str(app.conf.canonical_url)


async def _ask(session: aiohttp.ClientSession, url: str, body: bytes | None) -> Any:
    method = "GET" if body is None else "POST"
    async with session.request(method, url, data=body) as response:
        response.raise_for_status()
        return await response.json(content_type=None)
