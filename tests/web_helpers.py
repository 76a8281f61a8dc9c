"""HTTP calls to worker web servers in integration tests, with deadlines."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.waiting import eventually


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

    async def status() -> int:
        try:
            return (await get(f"{base}/readyz"))[0]
        except aiohttp.ClientError:
            return 0

    assert await eventually(status, lambda code: code == 200, timeout=timeout, every=0.5) == 200, (
        f"{base} never ready"
    )


async def wait_for_line(url: str, line: str, timeout: float = 30) -> str:
    status, text = await eventually(
        lambda: get(url), lambda found: found[0] == 200 and line in found[1], timeout=timeout,
        every=0.5,
    )  # fmt: skip
    assert status == 200 and line in text, f"{line!r} not in {url}:\n{text}"
    return text
