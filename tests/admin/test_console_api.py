"""The admin API the console uses, on a real worker and broker: definitions checked,
previewed, applied and deleted; members paged; sizes, history, dead letters and the live
membership feed. Everything is read through the typed client, as the CLI reads it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from subprocess import Popen
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.kafka_helpers import identify, membership_events, send_messages
from tests.support.waiting import eventually
from tests.support.web_helpers import get, wait_ready
from traitflow.admin.client import AdminClient, AdminError
from traitflow.admin.token import admin_token
from traitflow.config import Settings

pytestmark = pytest.mark.integration

TRIAL_YAML = 'key: trial\nname: Trial\ncondition: {trait: plan, op: "=", value: trial}\n'
PRO_YAML = 'key: trial\ncondition: {trait: plan, op: "=", value: pro}\n'
PLANS = {"ada": "trial", "grace": "pro", "linus": "trial", "mia": "trial", "ken": "pro"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"size_sample_s": 0.5, "admin_max_live_feeds": 2})


@pytest.fixture
async def admin(settings: Settings, worker: Popen[bytes]) -> AsyncIterator[AdminClient]:
    await wait_ready(f"http://127.0.0.1:{settings.web_port}")
    async with AdminClient(settings) as client:
        yield client


async def people(settings: Settings) -> None:
    await send_messages(settings, *(identify(name, "2026-11-23T08:00:00Z", f"m-{name}", plan=plan)
                                    for name, plan in PLANS.items()))  # fmt: skip


async def test_a_definition_is_checked_previewed_applied_paged_and_deleted(
    settings: Settings, admin: AdminClient
) -> None:
    with pytest.raises(AdminError, match="did you mean '='") as refused:
        await admin.check(TRIAL_YAML.replace('"="', "equals"))
    assert (refused.value.status, refused.value.code) == (422, "invalid_definition")
    checked = await admin.check(TRIAL_YAML)
    rev = checked["definitions"][0]["rev"]
    assert checked["definitions"] == [{"key": "trial", "kind": "segment", "rev": rev,
                                       "change": "new"}]  # fmt: skip
    await people(settings)
    applied = await admin.apply(TRIAL_YAML)
    assert applied["definitions"][0]["change"] == "new" and applied["version"] >= 0
    await membership_events(settings, 3)

    preview = await eventually(lambda: admin.preview(PRO_YAML), lambda p: p["scanned"] == 5)
    assert preview["live"] is True and preview["fraction"] == 1.0
    assert preview["members"] == {"count": 2, "sample": ["grace", "ken"]}
    assert preview["entering"]["sample"] == ["grace", "ken"]
    assert preview["exiting"] == {"count": 3, "sample": ["ada", "linus", "mia"]}
    assert (await admin.segment("trial"))["rev"] == rev

    paged, cursor, pages = [], None, 0
    while True:
        page = await admin.members("trial", cursor, limit=1)
        paged += page["members"]
        pages, cursor = pages + 1, page["next"]
        if cursor is None:
            break
    assert sorted(paged) == ["ada", "linus", "mia"] and pages >= 3
    assert sorted([p async for p in admin.all_members("trial")]) == ["ada", "linus", "mia"]
    with pytest.raises(AdminError, match="not one this API handed out"):
        await admin.members("trial", "bogus")

    sizes = await eventually(lambda: admin.sizes("trial"), lambda s: s and s[-1]["members"] == 3)
    assert sizes[-1]["members"] == 3, sizes
    metrics = (await get(f"{admin.base}/metrics"))[1]
    assert 'traitflow_segment_members{segment="trial"} 3.0' in metrics
    history = await admin.history("trial")
    assert history[-1]["action"] == "applied" and history[-1]["by"] == "admin-api:127.0.0.1"

    assert (await admin.delete_segment("trial"))["deleted"] == "trial"
    with pytest.raises(AdminError, match="no live definition 'trial'") as again:
        await admin.delete_segment("trial")
    assert again.value.status == 404
    exits = await membership_events(settings, 6)
    assert sum(event["type"] == "audience.exited" for event in exits) == 3


async def test_dead_letters_and_membership_events_are_readable_live_and_recent(
    settings: Settings, admin: AdminClient
) -> None:
    await admin.apply(TRIAL_YAML)
    token = admin_token(settings, create=False)
    live: list[dict[str, Any]] = []
    connected = asyncio.Event()

    async def listen() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{admin.base}/admin/membership/live", headers=headers) as stream,
        ):
            assert stream.headers["Content-Type"] == "text/event-stream"
            async for line in stream.content:
                if line.startswith(b": connected"):
                    connected.set()  # read to the end: what comes next is new
                if line.startswith(b"data: "):
                    live.append(orjson.loads(line[6:]))

    listening = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(connected.wait(), timeout=30)
        await people(settings)
        await send_messages(settings, b"{not json")
        await eventually(lambda: live, lambda found: len(found) >= 3, timeout=60)
    finally:
        listening.cancel()
    assert sorted(event["person"] for event in live) == ["ada", "linus", "mia"]
    recent = await admin.membership_events(limit=10)
    assert {event["person"] for event in recent} == {"ada", "linus", "mia"}
    dead = await eventually(lambda: admin.dead_letters(), lambda found: found)
    assert dead[0]["preview"] == "{not json" and "JSON" in dead[0]["reason"]
    with pytest.raises(AdminError, match="limit must be a whole number"):
        await admin.request("GET", "/admin/dead-letters?limit=lots")


async def test_live_feeds_are_bounded_per_worker(settings: Settings, admin: AdminClient) -> None:
    """Each feed holds a Kafka consumer: beyond the limit a feed is refused, with why, and
    a closed feed frees its place."""
    headers = {"Authorization": f"Bearer {admin_token(settings, create=False)}"}
    url = f"{admin.base}/admin/membership/live"
    async with aiohttp.ClientSession() as session:
        feeds = [await session.get(url, headers=headers) for _ in range(2)]
        for feed in feeds:
            assert feed.status == 200
            assert (await feed.content.readline()).startswith(b": connected")
        async with session.get(url, headers=headers) as refused:
            assert refused.status == 503
            body = await refused.json()
        assert body["error"] == "too_many_feeds"
        assert "TRAITFLOW_ADMIN_MAX_LIVE_FEEDS" in body["message"]
        feeds[0].close()

        async def reopened() -> int:
            async with session.get(url, headers=headers) as again:
                return again.status

        # sooner than a keep-alive (15 s) would find the connection closed
        assert await eventually(reopened, lambda status: status == 200, timeout=10) == 200
        feeds[1].close()


async def test_every_new_route_needs_the_token(settings: Settings, admin: AdminClient) -> None:
    for path in ("/admin/segments/trial", "/admin/segments/trial/members",
                 "/admin/segments/trial/sizes", "/admin/segments/trial/history",
                 "/admin/backfills", "/admin/dead-letters", "/admin/membership",
                 "/admin/membership/live"):  # fmt: skip
        assert (await get(admin.base + path))[0] == 401, path
    async with aiohttp.ClientSession() as session:
        for path in ("/admin/definitions", "/admin/definitions/check",
                     "/admin/definitions/preview"):  # fmt: skip
            async with session.post(admin.base + path, data=TRIAL_YAML) as answer:
                assert answer.status == 401, path
