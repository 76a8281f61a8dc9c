"""HTTP calls to worker web servers in integration tests, with deadlines."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support.waiting import eventually


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


async def assert_edge_holds(host: str, port: int, cap: int, header_timeout_s: float) -> None:
    """Of ``cap + 3`` clients that never finish their headers, those past the cap are
    closed at once, and the others once ``header_timeout_s`` is out; none is answered."""
    import asyncio
    import contextlib
    import time

    clients = [await asyncio.open_connection(host, port) for _ in range(cap + 3)]
    for _, writer in clients:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        await writer.drain()
    started = time.monotonic()

    async def closed_after(reader: asyncio.StreamReader) -> float:
        with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
            assert await reader.read() == b"", "a client that sent no whole head was answered"
        return time.monotonic() - started

    waits = sorted(await asyncio.wait_for(
        asyncio.gather(*(closed_after(reader) for reader, _ in clients)),
        timeout=header_timeout_s + 20,
    ))  # fmt: skip
    for _, writer in clients:
        writer.close()
    at_once = [wait for wait in waits if wait < header_timeout_s / 2]
    # past the cap: closed at once (one more when a probe's connection was still counted)
    assert 3 <= len(at_once) <= 5, waits
    # the others: when their time ran out, not before
    assert all(wait >= header_timeout_s * 0.9 for wait in waits[len(at_once) :]), waits
    status, _ = await get(f"http://{host}:{port}/healthz")
    assert status == 200
