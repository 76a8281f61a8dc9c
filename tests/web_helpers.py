"""HTTP calls to worker web servers in integration tests, with deadlines."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp


async def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text()


async def get_json(url: str, token: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def wait_ready(base: str, timeout: float = 90) -> None:
    """Until ``/readyz`` says 200: joined the group, recovered, definitions loaded."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await get(f"{base}/readyz"))[0] == 200:
                return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, f"{base} never ready"
        await asyncio.sleep(0.5)


async def wait_for_line(url: str, line: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status, text = await get(url)
        if status == 200 and line in text:
            return text
        assert time.monotonic() < deadline, f"{line!r} not in {url}:\n{text}"
        await asyncio.sleep(0.5)
