"""``traitflow deliver`` against a real local HTTP server that fails on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.conftest import free_port
from tests.support.kafka_helpers import read_records
from tests.support.waiting import eventually
from traitflow.broker.clients import publish
from traitflow.config import Settings
from traitflow.membership import Cause, Transition, membership_event
from traitflow.membership.webhook import DeliveryReport, Target, WebhookDelivery, backoff_s
from traitflow.profiles import Profile
from traitflow.segments import segment_from_spec
from traitflow.signing import signature

pytestmark = pytest.mark.integration

SECRET = b"delivery-secret"
CRM = {"name": "crm", "format": "segment-track", "traits": {"email": "email"}}


class Hook:
    """Answers ``script`` in order (an int status, or "hang"), then 200; keeps what it got."""

    def __init__(self, script: list[int | str]) -> None:
        self.script = list(script)
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("X-Signature") != signature(SECRET, body):
            self.bad_signatures += 1
        step = self.script.pop(0) if self.script else 200
        if step == "hang":
            await asyncio.sleep(3)
            step = 200  # too late: the client gave up on this post and retries it
        if step == 200:
            self.received.extend(orjson.loads(body))
        if step == 302:  # a redirect that a client following it would turn into a GET
            return web.Response(status=302, headers={"Location": "/elsewhere"})
        return web.json_response({}, status=int(step))


async def serve(hook: Hook) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    app.router.add_get("/elsewhere", lambda request: web.json_response({}))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook"


def events(count: int) -> list[dict[str, Any]]:
    """Half of them for a segment that names the ``crm`` destination."""
    routed = segment_from_spec(
        {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "t"},
         "destinations": [CRM]}
    )  # fmt: skip
    made = []
    for n in range(count):
        profile = Profile(f"p{n}", user_id=f"p{n}", traits={"email": f"p{n}@example.com"})
        transition = Transition("trial" if n % 2 else "other", True, 1, 1_795_420_800_000 + n)
        made.append(membership_event(profile, transition, Cause(f"m{n}", "identify"),
                                     routed if n % 2 else None))  # fmt: skip
    return made


@pytest.fixture
def delivery_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "deliver_secret": SecretStr(SECRET.decode()),
            "deliver_batch_size": 4,
            "deliver_batch_wait_s": 0.1,
            "deliver_timeout_s": 1.0,
            "deliver_max_backoff_s": 0.3,
        }
    )


async def deliver_until(
    settings: Settings, target: Target, done: Callable[[], bool], timeout: float = 60
) -> DeliveryReport:
    """Run a delivery until ``done()`` (or ``timeout``), then stop it as Ctrl-C would."""
    stop = asyncio.Event()
    task = asyncio.create_task(WebhookDelivery(settings, target).run(stop))
    await eventually(lambda: done() or task.done(), timeout=timeout, every=0.1)
    stop.set()
    return await asyncio.wait_for(task, 30)


async def test_a_failing_destination_gets_every_event_once_it_recovers(
    delivery_settings: Settings,
) -> None:
    published = events(30)
    await publish(delivery_settings, delivery_settings.topics.membership,
                  [(e["person"].encode(), orjson.dumps(e)) for e in published])  # fmt: skip
    hook = Hook([503, 503, "hang", 500, 429, 502])
    runner, url = await serve(hook)
    try:
        wanted = {e["id"] for e in published if "destinations" in e}
        report = await deliver_until(
            delivery_settings,
            Target(url, "crm", SECRET),
            lambda: {m["messageId"] for m in hook.received} >= wanted,
        )
    finally:
        await runner.cleanup()
    assert {m["messageId"] for m in hook.received} == wanted
    assert hook.bad_signatures == 0
    assert report.retries >= 6 and report.dead_lettered == 0 and report.skipped == 15
    first = hook.received[0]
    assert first["type"] == "track" and first["event"] == "Audience Entered"
    assert first["properties"]["email"].endswith("@example.com")


async def test_every_event_in_traitflow_format_and_progress_survives_a_restart(
    delivery_settings: Settings,
) -> None:
    published = events(10)
    records = [(e["person"].encode(), orjson.dumps(e)) for e in published]
    await publish(delivery_settings, delivery_settings.topics.membership, records[:6])
    hook = Hook([])
    runner, url = await serve(hook)
    try:
        target = Target(url, None, SECRET)
        await deliver_until(delivery_settings, target, lambda: len(hook.received) >= 6)
        await publish(delivery_settings, delivery_settings.topics.membership, records[6:])
        await deliver_until(delivery_settings, target, lambda: len(hook.received) >= 10)
    finally:
        await runner.cleanup()
    assert sorted(m["id"] for m in hook.received) == sorted(e["id"] for e in published)
    assert all("destinations" not in m for m in hook.received)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [(400, "HTTP 400"), (503, "HTTP 503"), (302, "HTTP 302: redirects are not followed")],
    ids=["refused", "down-too-long", "redirected"],
)
async def test_a_refusing_or_long_dead_destination_dead_letters_with_the_reason(
    delivery_settings: Settings, answer: int, reason: str
) -> None:
    """400 is dead-lettered at once; 503 once ``deliver_give_up_after_s`` has passed."""
    delivery_settings = delivery_settings.model_copy(update={"deliver_give_up_after_s": 1.0})
    published = events(4)
    await publish(delivery_settings, delivery_settings.topics.membership,
                  [(e["person"].encode(), orjson.dumps(e)) for e in published])  # fmt: skip
    hook = Hook([answer] * 1000)
    runner, url = await serve(hook)
    try:
        secret_url = url.replace("http://", "http://user:pw@") + "?token=t0p"
        report = await deliver_until(
            delivery_settings, Target(secret_url, None, SECRET), lambda: False, timeout=5
        )
    finally:
        await runner.cleanup()
    assert report.dead_lettered == 4 and report.delivered == 0
    dead = await read_records(delivery_settings, delivery_settings.topics.deadletter, 4)
    assert sorted(orjson.loads(r.value)["id"] for r in dead) == sorted(e["id"] for e in published)
    why = dict(dead[0].headers)["traitflow-reason"].decode()
    assert reason in why
    assert "pw" not in why and "t0p" not in why and "***@127.0.0.1" in why


def test_backoff_doubles_up_to_its_maximum_with_jitter() -> None:
    assert [backoff_s(n, 30, lambda: 0.0) for n in range(8)] == [
        0.375, 0.75, 1.5, 3.0, 6.0, 12.0, 22.5, 22.5,
    ]  # fmt: skip
    assert backoff_s(2, 30, lambda: 1.0) == 2.0


async def test_an_unreadable_record_is_dead_lettered_and_delivery_goes_on(
    delivery_settings: Settings,
) -> None:
    published = events(2)
    records = [(b"x", b"not json"), (b"y", b"[1]")]
    records += [(e["person"].encode(), orjson.dumps(e)) for e in published]
    await publish(delivery_settings, delivery_settings.topics.membership, records)
    hook = Hook([])
    runner, url = await serve(hook)
    try:
        report = await deliver_until(
            delivery_settings, Target(url, None, SECRET), lambda: len(hook.received) == 2
        )
    finally:
        await runner.cleanup()
    assert sorted(m["id"] for m in hook.received) == sorted(e["id"] for e in published)
    assert report.dead_lettered == 2
    dead = await read_records(delivery_settings, delivery_settings.topics.deadletter, 2)
    reasons = {r.value: dict(r.headers)["traitflow-reason"].decode() for r in dead}
    assert reasons[b"not json"].startswith("unreadable membership event: JSONDecodeError")
    assert "not an object" in reasons[b"[1]"]
