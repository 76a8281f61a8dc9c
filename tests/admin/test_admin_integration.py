"""The admin API on two workers: any worker answers for any person (forwarded, signed, to
the owner), counts cover every partition, and nothing is served without the bearer token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.cli.helpers import run_cli
from tests.conftest import free_port
from tests.support.kafka_helpers import Group, identify, membership_events, send_messages
from tests.support.waiting import eventually
from tests.support.web_helpers import get, get_json, wait_ready
from traitflow.admin.client import AdminClient
from traitflow.admin.guard import SESSION_COOKIE, SIGNATURE_HEADER, session_value
from traitflow.broker.partitioner import partition_of
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import worker_process

pytestmark = pytest.mark.integration

TOKEN = "admin-token-for-tests"
PEOPLE = ["ada", "grace", "linus", "mia@example.com", "ken thompson", "barbara"]
TRIAL = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}


@pytest.fixture
def two_workers(settings: Settings, tmp_path: Path) -> Iterator[list[Settings]]:
    """Two workers of one group, each with its own web port and state directory."""
    configured = []
    with ExitStack() as stack:
        for name in ("a", "b"):
            own = settings.model_copy(
                update={
                    "web_port": free_port(),
                    "data_dir": tmp_path / name,
                    "admin_token": SecretStr(TOKEN),
                }
            )
            stack.enter_context(worker_process(own, tmp_path / f"worker-{name}.log"))
            configured.append(own)
        yield configured


def base(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.web_port}"


async def test_any_worker_answers_for_any_person(two_workers: list[Settings]) -> None:
    a, b = two_workers
    assert {partition_of(p.encode(), a.partitions) for p in PEOPLE} == {0, 1}
    await apply_definitions(a, [segment_from_spec(TRIAL)])
    plans = ["trial", "trial", "monthly", "trial", "monthly", "trial"]
    await send_messages(
        a,
        *(
            identify(person, "2026-11-23T08:00:00Z", f"m{i}", plan=plan)
            for i, (person, plan) in enumerate(zip(PEOPLE, plans, strict=True))
        ),
    )
    await membership_events(a, 4)
    for worker in two_workers:
        await wait_ready(base(worker))
    for worker in two_workers:
        for person, plan in zip(PEOPLE, plans, strict=True):
            path = f"/admin/profiles/{person.replace(' ', '%20')}"
            status, profile = await get_json(base(worker) + path, TOKEN)
            assert status == 200, (worker.web_port, person, profile)
            assert (profile["person"], profile["traits"]["plan"]) == (person, plan)
            member = profile["memberships"].get("trial", {}).get("member", False)
            assert member is (plan == "trial")

    status, counts = await get_json(base(b) + "/admin/segments", TOKEN)
    assert status == 200
    assert counts["segments"][0]["key"] == "trial"
    assert counts["segments"][0]["members"] == 4
    assert counts["partitions"] == {"counted": [0, 1], "missing": []}

    status, why = await get_json(base(a) + "/admin/profiles/linus/segments/trial", TOKEN)
    assert (status, why["member"], why["matches_now"]) == (200, False, False)
    assert "monthly" in "\n".join(why["lines"])


async def test_counts_follow_transitions_after_the_first_count(
    two_workers: list[Settings],
) -> None:
    a, _ = two_workers
    await apply_definitions(a, [segment_from_spec(TRIAL)])
    await send_messages(a, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    await membership_events(a, 1)
    for worker in two_workers:
        await wait_ready(base(worker))
    assert (await get_json(base(a) + "/admin/segments", TOKEN))[1]["segments"][0]["members"] == 1
    await send_messages(
        a,
        identify("ada", "2026-11-23T09:00:00Z", "m2", plan="monthly"),
        identify("grace", "2026-11-23T09:00:00Z", "m3", plan="trial"),
        identify("linus", "2026-11-23T09:00:00Z", "m4", plan="trial"),
    )
    await membership_events(a, 4)
    await asyncio.sleep(0.5)
    counts = (await get_json(base(a) + "/admin/segments", TOKEN))[1]
    assert counts["segments"][0]["members"] == 2


async def test_unknown_ids_and_segments_are_404_with_a_message(
    two_workers: list[Settings],
) -> None:
    a, _ = two_workers
    await wait_ready(base(a))
    status, body = await get_json(base(a) + "/admin/profiles/nobody", TOKEN)
    assert (status, body["error"]) == (404, "not_found")
    assert "nobody" in body["message"]
    status, body = await get_json(base(a) + "/admin/profiles/nobody/segments/nope", TOKEN)
    assert status == 404 and "nope" in body["message"]


async def test_profile_data_needs_the_bearer_token(two_workers: list[Settings]) -> None:
    a, _ = two_workers
    await wait_ready(base(a))
    for path in ("/admin/profiles/ada", "/admin/segments", "/admin/profiles/ada/segments/x"):
        assert (await get(base(a) + path))[0] == 401
        status, body = await get_json(base(a) + path, "wrong-token")
        assert (status, body["error"]) == (401, "unauthorized")
    # health, metrics and the API description carry no personal data
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await get(base(a) + path))[0] == 200


async def test_cli_commands_call_the_api(two_workers: list[Settings]) -> None:
    a, _ = two_workers
    await apply_definitions(a, [segment_from_spec(TRIAL)])
    await send_messages(a, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    await membership_events(a, 1)
    await wait_ready(base(a))
    shown = await asyncio.to_thread(run_cli, a, "profile", "ada", "--json")
    assert shown.exit_code == 0, shown.output
    assert '"plan": "trial"' in shown.output
    person = await asyncio.to_thread(run_cli, a, "profile", "ada")
    assert person.exit_code == 0, person.output
    lines = person.output.splitlines()
    assert lines[0].startswith("ada  (user)")
    assert any(line.split()[:2] == ["plan", "trial"] for line in lines)
    assert any(line.split()[:2] == ["trial", "member"] and "v1" in line for line in lines)
    assert "feature" not in person.output and "applied_position" not in person.output
    listed = await asyncio.to_thread(run_cli, a, "segments", "list")
    assert listed.exit_code == 0, listed.output
    assert "trial" in listed.output and " 1 " in listed.output
    explained = await asyncio.to_thread(run_cli, a, "segments", "explain", "trial", "ada")
    assert "ada is a member of trial" in explained.output


async def test_members_and_previews_cover_both_workers_partitions(
    two_workers: list[Settings],
) -> None:
    a, _ = two_workers
    await apply_definitions(a, [segment_from_spec(TRIAL)])
    plans = ["trial", "trial", "monthly", "trial", "monthly", "trial"]
    pairs = list(zip(PEOPLE, plans, strict=True))
    await send_messages(a, *(identify(person, "2026-11-23T08:00:00Z", f"m{i}", plan=plan)
                             for i, (person, plan) in enumerate(pairs)))  # fmt: skip
    await membership_events(a, 4)
    async with Group(a) as group:  # both in the group (once, on Kafka, a preview came
        await group.settled(2)  # while they were not yet: it covered partition 0 only)
    for worker in two_workers:
        await wait_ready(base(worker))
    trial = {person for person, plan in pairs if plan == "trial"}
    monthly = 'key: trial\ncondition: {trait: plan, op: "=", value: monthly}'
    for worker in two_workers:
        async with AdminClient(worker, token=TOKEN) as admin:
            assert {person async for person in admin.all_members("trial", page=1)} == trial
            preview = await admin.preview(monthly)
            assert preview["partitions"] == [0, 1] and preview["scanned"] == len(PEOPLE)
            assert set(preview["exiting"]["sample"]) == trial
            assert preview["entering"]["sample"] == ["ken thompson", "linus"]


async def test_no_credential_reaches_a_url_a_group_member_advertises(
    settings: Settings, tmp_path: Path
) -> None:
    """Worker b advertises a listener's URL as its own: a's requests to it (gathering the
    segments' counts, reaching a person's owner) carry a signature, never the caller's
    token or cookie, and that signature opens nothing when replayed to worker a."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"error": "listener"}, status=404)

    listener = web.Application()
    listener.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(listener)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    a = settings.model_copy(update={"web_port": free_port(), "data_dir": tmp_path / "a",
                                    "admin_token": SecretStr(TOKEN)})  # fmt: skip
    b = a.model_copy(update={"web_port": free_port(), "data_dir": tmp_path / "b",
                             "web_advertised_url": f"http://127.0.0.1:{port}"})  # fmt: skip
    try:
        with worker_process(a, tmp_path / "a.log"), worker_process(b, tmp_path / "b.log"):
            for worker in (a, b):
                await wait_ready(base(worker))
            cookie = {"Cookie": f"{SESSION_COOKIE}={session_value(TOKEN)}"}
            async with (
                aiohttp.ClientSession(headers=cookie) as session,
                session.get(base(a) + "/admin/segments") as answer,
            ):
                assert answer.status == 200, await answer.text()
                b_person = next(p for p in PEOPLE if partition_of(p.encode(), 2) != 0)
                await get_json(base(a) + f"/admin/profiles/{quote(b_person)}", TOKEN)
            assert seen, "worker a asked the advertised URL nothing"
            for headers in seen:
                assert "Authorization" not in headers and "Cookie" not in headers, headers
                assert TOKEN not in str(headers) and SIGNATURE_HEADER in headers
            replayed = {SIGNATURE_HEADER: seen[0][SIGNATURE_HEADER]}
            async with (
                aiohttp.ClientSession(headers=replayed) as session,
                session.get(base(a) + "/admin/segments?scope=local") as answer,
            ):
                assert answer.status == 401
    finally:
        await runner.cleanup()


async def test_signing_out_revokes_the_cookie_on_every_worker(
    two_workers: list[Settings], tmp_path: Path
) -> None:
    a, _ = two_workers
    for worker in two_workers:
        await wait_ready(base(worker))
    async with aiohttp.ClientSession() as session:
        async with session.post(base(a) + "/console/session", json={"token": TOKEN}) as answer:
            assert answer.status == 200
            cookie = answer.cookies[SESSION_COOKIE].value
        copied = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
        for worker in two_workers:  # a copy works on both workers while signed in
            async with session.get(base(worker) + "/admin/segments", headers=copied) as answer:
                assert answer.status == 200
        async with session.delete(base(a) + "/console/session", headers=copied) as answer:
            assert answer.status == 200
        for worker in two_workers:  # and on neither once signed out, though unexpired

            async def refused(worker: Settings = worker) -> int:
                async with session.get(base(worker) + "/admin/segments", headers=copied) as got:
                    return got.status

            assert await eventually(refused, lambda status: status == 401, timeout=10) == 401
        # nor on a worker started afterwards on an empty disk (it reads the sessions topic)
        later = two_workers[0].model_copy(
            update={"web_port": free_port(), "data_dir": tmp_path / "later"}
        )
        with worker_process(later, tmp_path / "worker-later.log"):
            await wait_ready(base(later))
            async with session.get(base(later) + "/admin/segments", headers=copied) as answer:
                assert answer.status == 401, await answer.text()
            async with session.post(base(later) + "/console/session", json={"token": TOKEN}) as got:
                assert got.status == 200  # signing in again works there
