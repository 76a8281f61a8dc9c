"""The bridge under faults and abuse: stalled bodies, floods, Kafka going away."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.bridge.conftest import WRITE_KEY
from tests.bridge.test_server_integration import AUTH, basic, post, track
from tests.conftest import free_port
from tests.support.waiting import eventually
from traitflow.bridge.server import running_bridge
from traitflow.broker.embedded import EmbeddedBroker
from traitflow.config import Settings

pytestmark = pytest.mark.integration


async def _stalled_request(url: str, declared: int, sent: bytes = b'{"type":') -> tuple[
    asyncio.StreamReader, asyncio.StreamWriter
]:  # fmt: skip
    """A request whose headers arrive and whose body stops after ``sent``."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /v1/track HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: {basic(WRITE_KEY)['Authorization']}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    writer.write(head.encode() + sent)
    await writer.drain()
    return reader, writer


async def test_a_stalled_body_is_answered_408_and_the_connection_closed(
    bridge_settings: Settings,
) -> None:
    settings = bridge_settings.model_copy(update={"bridge_read_timeout_s": 1.0})
    async with running_bridge(settings) as url:
        reader, writer = await _stalled_request(url, declared=1000)
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.readuntil(b"}"), timeout=10)
        closed = await asyncio.wait_for(reader.read(), timeout=10)  # EOF: the bridge closed
        writer.close()
    assert closed == b""
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer
    assert time.monotonic() - started < 5


async def test_past_the_requests_in_flight_the_bridge_answers_503_retry_after(
    bridge_settings: Settings,
) -> None:
    settings = bridge_settings.model_copy(
        update={"bridge_max_in_flight_requests": 2, "bridge_read_timeout_s": 5.0}
    )
    async with running_bridge(settings) as url:
        held = [await _stalled_request(url, declared=100) for _ in range(2)]
        await asyncio.sleep(0.3)  # both are being read
        status, body, headers = await post(f"{url}/v1/track", track("u1", "x"), AUTH)
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.3)  # released as their connections close
        after, _, _ = await post(f"{url}/v1/track", track("u1", "x"), AUTH)
    assert (status, body["code"]) == (503, "busy")
    assert headers["Retry-After"] == str(settings.bridge_retry_after_s)
    assert after == 200


async def test_past_the_bytes_in_flight_the_bridge_answers_503(bridge_settings: Settings) -> None:
    settings = bridge_settings.model_copy(
        update={"bridge_max_in_flight_bytes": 150_000, "bridge_read_timeout_s": 5.0}
    )
    async with running_bridge(settings) as url:
        _, writer = await _stalled_request(url, declared=100_000)
        await asyncio.sleep(0.3)
        big = {"batch": [track("u1", "x", properties={"pad": "y" * 60_000})]}
        status, body, _ = await post(f"{url}/v1/batch", big, AUTH)
        small, _, _ = await post(f"{url}/v1/track", track("u1", "x"), AUTH)
        writer.close()
    assert (status, body["code"]) == (503, "busy")
    assert small == 200


async def test_readyz_follows_kafka_going_away(bridge_settings: Settings) -> None:
    port = free_port()
    with EmbeddedBroker(port) as broker:
        settings = bridge_settings.model_copy(
            update={"bootstrap_servers": broker.bootstrap, "bridge_port": free_port()}
        )
        async with running_bridge(settings) as url, aiohttp.ClientSession() as http:

            async def readyz() -> int:
                async with http.get(f"{url}/readyz") as ready:
                    return ready.status

            async def readyz_until(wanted: int) -> int:
                return await eventually(readyz, lambda status: status == wanted, every=0.3)

            assert await readyz_until(200) == 200  # the broker is up
            broker.stop()
            assert await readyz_until(503) == 503


@pytest.mark.parametrize("depth", [30, 253, 254, 255, 300, 1022, 1023, 1024, 1100])
async def test_deep_nesting_is_a_400_naming_the_reason(bridge: str, depth: int) -> None:
    """orjson reads 1,024 levels and writes 254: no depth may answer 500."""
    body = b'{"userId":"u1","traits":' + b'{"k":' * depth + b"1" + b"}" * depth + b"}"
    status, answer, _ = await post(f"{bridge}/v1/identify", body, AUTH)
    if depth < 31:
        assert status == 200, answer
        return
    assert status == 400, answer
    reason = answer["rejected"][0]["reason"] if "rejected" in answer else answer["message"]
    assert "max_nesting_depth" in reason or "not JSON" in reason, reason
