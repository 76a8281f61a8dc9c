"""A worker process on a real broker: the whole path from message to membership event."""

from __future__ import annotations

from pathlib import Path
from subprocess import Popen

import orjson
import pytest
from rocksdict import AccessType, Options, Rdict

from tests.support.kafka_helpers import (
    apply_and_wait,
    identify,
    membership_events,
    read_records,
    send_messages,
)
from tests.support.web_helpers import assert_edge_holds, get_json, wait_ready
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)

TEAMS = segment_from_spec({"key": "teams", "condition": {"trait": "seats", "op": ">=", "value": 2}})


async def test_identify_enters_then_trait_change_exits(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(settings, [TRIAL])
    await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    await send_messages(settings, identify("ada", "2026-11-23T09:00:00Z", "m2", plan="monthly"))
    entered, exited = await membership_events(settings, 2, settle=1.0)
    assert (entered["type"], entered["segment"], entered["user_id"]) == (
        "audience.entered",
        "trial",
        "ada",
    )
    assert entered["cause"]["message_id"] == "m1"
    assert entered["at"] == "2026-11-23T08:00:00.000Z"
    assert (exited["type"], exited["version"], exited["cause"]["message_id"]) == (
        "audience.exited",
        2,
        "m2",
    )


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'{"type": "shout", "userId": "ada"}', b"unknown type"),
        (b"{this is not json", b"not JSON"),
        (
            b'{"type":"identify","userId":"ada","traits":{"x":"' + b"y" * 40_000 + b'"}}',
            b"too large",
        ),
    ],
    ids=["unknown", "malformed", "oversized"],
)
async def test_bad_message_is_dead_lettered_and_the_next_one_processed(
    settings: Settings, worker: Popen[bytes], bad: bytes, reason: bytes
) -> None:
    await apply_and_wait(settings, [TRIAL])
    await send_messages(settings, bad)
    await send_messages(settings, identify("grace", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    [dead] = await read_records(settings, settings.topics.deadletter, 1)
    assert dead.value == bad
    headers = dict(dead.headers)
    assert reason in headers["traitflow-reason"]
    assert headers["traitflow-source"].startswith(settings.topics.events.encode())
    [event] = await membership_events(settings, 1)
    assert (event["type"], event["user_id"]) == ("audience.entered", "grace")


async def test_restart_recovers_profiles_from_the_changelog_without_a_second_entered(
    settings: Settings, worker_log: Path
) -> None:
    await apply_and_wait(settings, [TRIAL])
    first = start_worker(settings, worker_log)
    await send_messages(settings, identify("linus", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    await membership_events(settings, 1)
    assert stop_process(first) == 0, worker_log.read_text()[-3000:]

    # A fresh data directory: the profile can only come back from the changelog topic.
    fresh = settings.model_copy(update={"data_dir": settings.data_dir.parent / "fresh"})
    second = start_worker(fresh, worker_log)
    try:
        await send_messages(
            fresh, identify("linus", "2026-11-23T09:00:00Z", "m2", plan="trial", seats=3)
        )
        await send_messages(fresh, identify("linus", "2026-11-23T10:00:00Z", "m3", plan="free"))
        events = await membership_events(fresh, 2, settle=2.0)
    finally:
        assert stop_process(second) == 0, worker_log.read_text()[-3000:]
    assert [(e["type"], e["version"]) for e in events] == [
        ("audience.entered", 1),
        ("audience.exited", 2),
    ]


async def test_profiles_reach_rocksdb_and_the_changelog_with_the_offset_it_holds(
    settings: Settings, worker_log: Path
) -> None:
    """A batch writes each profile to its partition's RocksDB database and changelog, and
    records there the changelog offset the database holds: a restart replays only newer."""
    await apply_and_wait(settings, [TRIAL])
    worker = start_worker(settings, worker_log)
    try:
        await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
        await send_messages(settings, identify("ada", "2026-11-23T09:00:00Z", "m2", seats=2))
        changelog = await read_records(
            settings,
            f"{settings.app_id}-profiles-changelog",
            1,
            size=lambda records: sum(b'"seats"' in record.value for record in records),
        )
    finally:
        assert stop_process(worker) == 0, worker_log.read_text()[-3000:]
    newest = changelog[-1]
    [path] = settings.data_dir.rglob(f"profiles-{newest.partition}.db")
    database = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        assert database[b"ada"] == newest.value
        assert orjson.loads(newest.value)["traits"] == {"plan": "trial", "seats": 2}
        assert database[b"__faust\0offset__"] == str(newest.offset).encode()
    finally:
        database.close()
    _assert_private(settings.data_dir)


def _assert_private(data_dir: Path) -> None:
    """Profiles are personal data: only the worker's user may read its state."""
    import stat

    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    entries = list(data_dir.rglob("*"))
    assert any(entry.suffix == ".sst" or entry.name.startswith("MANIFEST") for entry in entries)
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        assert mode & 0o077 == 0, f"{entry} is {oct(mode)}"


async def test_segment_applied_at_runtime_is_picked_up_without_restart(
    settings: Settings, worker: Popen[bytes]
) -> None:
    await apply_and_wait(settings, [TRIAL])
    await send_messages(settings, identify("ken", "2026-11-23T08:00:00Z", "m1", plan="trial"))
    await membership_events(settings, 1)
    await apply_and_wait(settings, [TEAMS])
    await send_messages(settings, identify("ken", "2026-11-23T09:00:00Z", "m2", seats=2))
    events = await membership_events(settings, 2, settle=1.0)
    assert [(e["segment"], e["type"], e["cause"]["message_id"]) for e in events] == [
        ("teams", "audience.entered", "m2"),
        ("trial", "audience.entered", "m1"),
    ]


async def test_the_web_port_holds_no_client_that_never_finishes_its_headers(
    settings: Settings, tmp_path: Path
) -> None:
    edged = settings.model_copy(update={"http_max_connections": 8, "http_header_timeout_s": 4.0})
    log = tmp_path / "worker.log"
    worker = start_worker(edged, log)
    try:
        await wait_ready(f"http://127.0.0.1:{edged.web_port}")
        await assert_edge_holds("127.0.0.1", edged.web_port, 8, 4.0)
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]


async def test_a_corrupt_rocksdb_partition_is_rebuilt_from_its_changelog(
    settings: Settings, worker_log: Path
) -> None:
    """Damaged .sst files: the database that will not open is moved aside and its
    partition restored from the changelog (people exit as their next message says), and
    /readyz says so; before, the worker crashed at every start."""
    await apply_and_wait(settings, [TRIAL])
    first = start_worker(settings, worker_log)
    people = [f"p{n}" for n in range(200)]
    await send_messages(settings, *(identify(p, "2026-11-23T08:00:00Z", f"m-{p}", plan="trial",
                                             note="x" * 500) for p in people))  # fmt: skip
    await membership_events(settings, len(people))
    assert stop_process(first) == 0, worker_log.read_text()[-3000:]
    tables = settings.data_dir / settings.app_id
    damaged = sorted(tables.rglob("profiles-*.db/*.sst"))
    assert damaged, sorted(str(p) for p in tables.rglob("*"))[:20]
    for path in damaged:  # flip bytes all through every table file of the profiles
        data = bytearray(path.read_bytes())
        for at in range(64, max(65, len(data) - 512), 97):
            data[at] ^= 0xFF
        path.write_bytes(bytes(data))
    second = start_worker(settings, worker_log)
    try:
        await send_messages(settings, *(identify(p, "2026-11-23T09:00:00Z", f"n-{p}",
                                                 plan="free") for p in people))  # fmt: skip
        events = await membership_events(settings, 2 * len(people), settle=3.0)
        exits = {e["person"] for e in events if e["type"] == "audience.exited"}
        assert exits == set(people)  # each profile was back, a member, before the message
        base = f"http://127.0.0.1:{settings.web_port}"
        status, said = await get_json(base + "/readyz", "unused")
        assert status == 200 and said["status"] == "degraded", said
        assert "rebuilt from its changelog" in "\n".join(said["degraded"]), said
        assert list(tables.rglob("profiles-*.db.corrupt-*")), "the damaged files are kept"
    finally:
        assert stop_process(second) == 0, worker_log.read_text()[-3000:]
