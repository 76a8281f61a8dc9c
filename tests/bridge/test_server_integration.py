"""The bridge over real HTTP, publishing to the real broker."""

from __future__ import annotations

import base64
import gzip
import logging
from typing import Any

import aiohttp
import orjson
import pytest

from tests.bridge.conftest import SOURCE_KEY, WEBHOOK_SECRET, WRITE_KEY
from tests.conftest import free_port
from tests.support.kafka_helpers import messages_of, read_messages, read_records
from tests.support.web_helpers import assert_edge_holds
from traitflow.bridge.server import running_bridge
from traitflow.broker.partitioner import partition_of
from traitflow.config import Settings
from traitflow.ingest.bundles import bundle_size
from traitflow.signing import signature

pytestmark = pytest.mark.integration


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def post(
    url: str, body: Any, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=data, headers=headers or {}) as response,
    ):
        return response.status, await response.json(), dict(response.headers)


async def events_on_topic(settings: Settings, count: int) -> list[dict[str, Any]]:
    return await read_messages(settings, count)


AUTH = basic(WRITE_KEY)
GZIP = {**AUTH, "Content-Encoding": "gzip"}


def track(user: str, event: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": event, **extra}


async def test_track_with_basic_auth_is_on_the_topic_keyed_by_person(
    bridge: str, bridge_settings: Settings
) -> None:
    status, body, _ = await post(
        f"{bridge}/v1/track", {"userId": "u1", "event": "Signed Up"}, basic(WRITE_KEY)
    )
    assert (status, body) == (200, {"success": True, "accepted": 1})
    records = await read_records(bridge_settings, bridge_settings.topics.events, 1, timeout=20)
    assert records[0].key == b"u1"
    message = orjson.loads(records[0].value)
    assert message["type"] == "track" and message["event"] == "Signed Up"
    assert {"messageId", "receivedAt", "timestamp"} <= message.keys()


async def test_batch_with_write_key_in_body_reports_each_rejected_index(
    bridge: str, bridge_settings: Settings
) -> None:
    batch = [track("u1", "A"), {"type": "track", "event": "nobody"}, "oops", track("u2", "B")]
    status, body, _ = await post(
        f"{bridge}/v1/batch", {"batch": batch, "writeKey": SOURCE_KEY, "context": {"ip": "1"}}
    )
    assert status == 400
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "missing userId and anonymousId" in body["rejected"][0]["reason"]
    messages = await events_on_topic(bridge_settings, 2)
    assert sorted(m["event"] for m in messages) == ["A", "B"]
    assert all(m["context"] == {"ip": "1", "source": {"name": "ios"}} for m in messages)
    assert all("writeKey" not in m for m in messages)


async def test_import_is_a_batch_and_gzip_is_decoded(
    bridge: str, bridge_settings: Settings
) -> None:
    payload = gzip.compress(orjson.dumps({"batch": [track("u1", "Imported")]}))
    headers = {**basic(WRITE_KEY), "Content-Encoding": "gzip"}
    status, body, _ = await post(f"{bridge}/v1/import", payload, headers)
    assert (status, body["accepted"]) == (200, 1)
    assert (await events_on_topic(bridge_settings, 1))[0]["event"] == "Imported"


@pytest.mark.parametrize(
    ("path", "payload", "headers", "status", "code"),
    [
        ("/v1/track", {"userId": "u1", "event": "x"}, {}, 401, "missing_write_key"),
        ("/v1/track", {"userId": "u1", "event": "x"}, basic("wrong"), 401, "unknown_write_key"),
        ("/v1/track", b"{not json", AUTH, 400, "not_json"),
        ("/v1/batch", {"batch": [track("u", "e")] * 2501}, AUTH, 413, "batch_too_long"),
        ("/v1/batch", {"batch": [track("u", "e" * 190)] * 2400}, AUTH, 413, "too_large"),
        ("/v1/track", gzip.compress(b"x" * 600_000), GZIP, 413, "too_large"),
        ("/v1/track", b"{}", GZIP, 400, "bad_encoding"),
        ("/v1/track", b"{}", AUTH | {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
    ],
)  # fmt: skip
async def test_refusals_are_json_with_a_reason(
    bridge: str, path: str, payload: Any, headers: dict[str, str], status: int, code: str
) -> None:
    got_status, body, _ = await post(bridge + path, payload, headers)
    assert (got_status, body["code"], body["success"]) == (status, code, False)
    assert body["message"]


async def test_a_message_over_32kb_is_rejected_by_index(bridge: str) -> None:
    big = track("u1", "big", properties={"blob": "x" * 33_000})
    status, body, _ = await post(
        f"{bridge}/v1/batch", {"batch": [track("u1", "ok"), big]}, basic(WRITE_KEY)
    )
    assert status == 400
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 1
    assert "too large" in body["rejected"][0]["reason"]


async def test_a_batchs_messages_of_one_partition_travel_as_one_bundle(
    bridge: str, bridge_settings: Settings
) -> None:
    batch = [track("u1", "A"), track("u1", "B"), track("u1", "C")]
    status, _, _ = await post(f"{bridge}/v1/batch", {"batch": batch}, basic(WRITE_KEY))
    assert status == 200
    records = await read_records(bridge_settings, bridge_settings.topics.events, 1, settle=0.5)
    assert len(records) == 1 and bundle_size(records[0].headers) == 3
    assert [m["event"] for m in messages_of(records)] == ["A", "B", "C"]
    assert records[0].partition == partition_of(b"u1", bridge_settings.partitions)


async def test_one_persons_messages_stay_in_order_on_one_partition(
    bridge: str, bridge_settings: Settings
) -> None:
    for number in range(20):
        status, _, _ = await post(
            f"{bridge}/v1/track", track("same-user", f"e{number}"), basic(WRITE_KEY)
        )
        assert status == 200
    records = await read_records(bridge_settings, bridge_settings.topics.events, 20, timeout=20)
    assert len({record.partition for record in records}) == 1
    assert [orjson.loads(r.value)["event"] for r in records] == [f"e{n}" for n in range(20)]


async def test_webhook_single_and_batched_with_signature(
    bridge: str, bridge_settings: Settings
) -> None:
    secret = WEBHOOK_SECRET.encode()
    single = orjson.dumps(track("w1", "Single"))
    status, _, _ = await post(
        f"{bridge}/webhook", single, {"X-Signature": signature(secret, single)}
    )
    assert status == 200
    first = b'{"type": "track", "userId": "w2", "event": "First"}'
    batch = b"[" + first + b", " + orjson.dumps(track("w3", "Second")) + b"]"
    status, body, _ = await post(  # Actions webhooks may PUT or PATCH
        f"{bridge}/webhook", batch, {"X-Signature": signature(secret, batch)}, method="PUT"
    )
    assert (status, body["accepted"]) == (200, 2)
    messages = await events_on_topic(bridge_settings, 3)
    assert sorted(m["event"] for m in messages) == ["First", "Second", "Single"]
    assert all(m["context"]["source"] == {"name": "webhook"} for m in messages)


async def test_a_batch_signed_by_its_first_element_only_needs_the_opt_in(
    bridge: str, bridge_settings: Settings
) -> None:
    """Segment signs element 0 alone: anyone holding one such signature could append
    messages, so it is accepted only with webhook_signature_scope "first"."""
    secret = WEBHOOK_SECRET.encode()
    first = b'{"type": "track", "userId": "w2", "event": "First"}'
    appended = b"[" + first + b", " + orjson.dumps(track("mallory", "Forged")) + b"]"
    claimed = {"X-Signature": signature(secret, first)}
    status, body, _ = await post(f"{bridge}/webhook", appended, claimed)
    assert (status, body["code"]) == (401, "bad_signature")
    segment_like = bridge_settings.model_copy(
        update={"webhook_signature_scope": "first", "bridge_port": free_port()}
    )
    async with running_bridge(segment_like) as url:
        status, body, _ = await post(f"{url}/webhook", appended, claimed)
    assert (status, body["accepted"]) == (200, 2)


async def test_webhook_with_a_bad_signature_is_401_and_publishes_nothing(
    bridge: str, bridge_settings: Settings
) -> None:
    body = orjson.dumps(track("w1", "Forged"))
    status, answer, _ = await post(
        f"{bridge}/webhook", body, {"X-Signature": signature(b"guess", body)}
    )
    assert (status, answer["code"]) == (401, "bad_signature")
    status, _, _ = await post(f"{bridge}/webhook", body)
    assert status == 401
    assert await read_records(bridge_settings, bridge_settings.topics.events, 1, timeout=2) == []


async def test_webhook_is_off_without_a_secret(bridge_settings: Settings) -> None:
    off = bridge_settings.model_copy(update={"webhook_secret": None, "bridge_port": free_port()})
    async with running_bridge(off) as url:
        status, body, _ = await post(f"{url}/webhook", track("u", "e"), {"X-Signature": "00"})
    assert (status, body["code"]) == (404, "webhook_disabled")


async def test_unreachable_kafka_answers_503_with_retry_after(bridge_settings: Settings) -> None:
    down = bridge_settings.model_copy(
        update={
            "bootstrap_servers": f"127.0.0.1:{free_port()}",
            "bridge_port": free_port(),
            "bridge_ack_timeout_s": 2.0,
        }
    )
    async with running_bridge(down) as url:
        status, body, headers = await post(
            f"{url}/v1/track", track("u1", "Lost?"), basic(WRITE_KEY)
        )
        async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as ready:
            assert ready.status == 503
    # the suppression list cannot be read either: refused before publishing is tried
    assert (status, body["code"]) == (503, "suppressions_unavailable"), body
    assert "KafkaConnectionError" in body["message"]
    assert headers["Retry-After"] == str(down.bridge_retry_after_s)


async def test_write_keys_never_reach_the_logs(
    bridge: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await post(f"{bridge}/v1/track", track("u1", "x"), basic(SOURCE_KEY))
    await post(f"{bridge}/v1/batch", {"batch": [track("u1", "x")], "writeKey": WRITE_KEY})
    await post(f"{bridge}/v1/track", track("u1", "x"), basic("not-a-key-" + WRITE_KEY))
    assert caplog.records, "the bridge logs requests"
    for key in (WRITE_KEY, SOURCE_KEY, WEBHOOK_SECRET):
        assert key not in caplog.text


async def test_metrics_count_requests_and_messages_and_readyz_answers(bridge: str) -> None:
    await post(f"{bridge}/v1/track", track("u1", "x"), AUTH)
    await post(f"{bridge}/v1/batch", {"batch": [track("u1", "y"), {"type": "track"}]}, AUTH)
    await post(f"{bridge}/v1/track", track("u1", "x"), basic("wrong"))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{bridge}/readyz") as response:
            assert response.status == 200
        async with session.get(f"{bridge}/metrics") as response:
            assert response.content_type == "text/plain"
            exposition = await response.text()
    for line in (
        'traitflow_bridge_requests_total{endpoint="/v1/track",status="200"} 1.0',
        'traitflow_bridge_requests_total{endpoint="/v1/batch",status="400"} 1.0',
        'traitflow_bridge_requests_total{endpoint="/v1/track",status="401"} 1.0',
        'traitflow_bridge_messages_total{outcome="accepted"} 2.0',
        'traitflow_bridge_messages_total{outcome="rejected"} 1.0',
        'traitflow_bridge_request_duration_seconds_count{endpoint="/v1/track"} 2.0',
    ):
        assert line in exposition, exposition


async def test_openapi_document_and_health(bridge: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{bridge}/openapi.json") as response:
            document = await response.json()
        async with session.get(f"{bridge}/healthz") as response:
            assert response.status == 200
    assert document["openapi"].startswith("3.1")
    assert {"/v1/track", "/v1/batch", "/v1/import", "/webhook"} <= document["paths"].keys()


async def test_clients_that_never_finish_their_headers_are_not_held(
    bridge_settings: Settings,
) -> None:
    """200 such clients were held for minutes: now the cap refuses past it at once, and
    each is closed once its header time is out."""
    edged = bridge_settings.model_copy(
        update={"http_max_connections": 8, "http_header_timeout_s": 4.0}
    )
    async with running_bridge(edged):
        await assert_edge_holds(edged.bridge_host, edged.bridge_port, 8, 4.0)
