"""The Faust agent, run with ``test_context()``: memory store, channels instead of topics."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.support.messages import AT, encoded
from tests.support.waiting import eventually
from tests.worker.agent_app import agent_app
from traitflow.broker.partitioner import partition_of
from traitflow.config import Settings
from traitflow.ingest.bundles import position
from traitflow.ingest.records import BUNDLE_HEADER, LINES_PER_POSITION
from traitflow.segments import segment_from_spec
from traitflow.worker import app as app_module
from traitflow.worker.app import WorkerApp

YEAR_S = 365 * 86_400  # fixed-date test messages stay valid whatever the machine's clock says
TRIAL = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
PAID = {"key": "paid", "condition": {"trait": "plan", "op": "=", "value": "paid"}}


@pytest.fixture
async def worker(tmp_path: Any) -> AsyncIterator[WorkerApp]:
    settings = Settings(data_dir=tmp_path, topic_prefix="agent-test", future_tolerance_s=YEAR_S)
    built = agent_app(settings)
    built.registry.put(segment_from_spec(TRIAL))
    yield built


def identify(user: str, plan: str, stamp: str = "2026-11-23T08:00:00Z") -> bytes:
    return encoded("identify", stamp, userId=user, traits={"plan": plan})


def subscribe(channel: Any) -> Any:
    """A reader of a test channel: only subscribed clones receive what is sent."""
    return channel.clone(is_iterator=True)


async def next_value(channel: Any) -> dict[str, Any]:
    event = await channel.get(timeout=5)
    return orjson.loads(event.value)  # type: ignore[no-any-return]


async def test_identify_enters_and_trait_change_exits(worker: WorkerApp) -> None:
    membership = subscribe(worker.handler.sinks.membership)
    async with worker.agent.test_context() as agent:
        await agent.put(identify("u1", "trial"), key=b"u1")
        entered = await next_value(membership)
        await agent.put(identify("u1", "paid", "2026-11-23T09:00:00Z"), key=b"u1")
        exited = await next_value(membership)
    assert (entered["type"], entered["segment"], entered["user_id"]) == (
        "audience.entered",
        "trial",
        "u1",
    )
    assert exited["type"] == "audience.exited"
    assert exited["version"] == 2


async def test_bad_message_goes_to_dead_letter_with_original_bytes(worker: WorkerApp) -> None:
    deadletter = subscribe(worker.handler.sinks.deadletter)
    async with worker.agent.test_context() as agent:
        await agent.put(b"{oops", key=b"u1")
        event = await deadletter.get(timeout=5)
    assert event.value == b"{oops"
    assert dict(event.headers)["traitflow-reason"].startswith(b"not JSON")


async def test_record_keyed_by_someone_else_is_rekeyed_to_its_person(worker: WorkerApp) -> None:
    events = subscribe(worker.handler.sinks.events)
    async with worker.agent.test_context() as agent:
        await agent.put(identify("u1", "trial"), key=b"device-42")
        event = await events.get(timeout=5)
    assert (event.key, event.value) == (b"u1", identify("u1", "trial"))


async def test_unreadable_stored_profile_dead_letters_instead_of_crashing(
    worker: WorkerApp,
) -> None:
    deadletter = subscribe(worker.handler.sinks.deadletter)
    membership = subscribe(worker.handler.sinks.membership)
    async with worker.agent.test_context() as agent:
        await agent.put(identify("u1", "trial"), key=b"u1")
        await next_value(membership)
        worker.profiles.data[b"u1"] = b"corrupt"
        await agent.put(identify("u1", "paid"), key=b"u1")
        dead = await deadletter.get(timeout=5)
        await agent.put(identify("u2", "trial"), key=b"u2")
        entered = await next_value(membership)
    assert dict(dead.headers)["traitflow-reason"].startswith(b"internal error")
    assert entered["user_id"] == "u2"


async def test_a_backfill_job_applies_a_new_segment_to_stored_profiles_in_chunks(
    worker: WorkerApp,
) -> None:
    from traitflow.jobs import JOB_KEY, BackfillJob, kind_headers
    from traitflow.worker.backfill import CHUNK

    membership = subscribe(worker.handler.sinks.membership)
    events = subscribe(worker.handler.sinks.events)
    status = subscribe(worker.handler.sinks.status)
    people = [f"p{i:03d}" for i in range(CHUNK + 5)]
    async with worker.agent.test_context() as agent:
        for person in people:
            await agent.put(identify(person, "paid"), key=person.encode())
        worker.registry.put(segment_from_spec(PAID))
        await agent.put(BackfillJob(worker.registry.version, 0).to_bytes(), key=JOB_KEY,
                        headers=kind_headers())  # fmt: skip
        first_chunk = [await next_value(membership) for _ in range(CHUNK)]
        follow = await events.get(timeout=5)
        progress = orjson.loads((await status.get(timeout=5)).value)
        await agent.put(follow.value, key=JOB_KEY, headers=kind_headers())
        second_chunk = [await next_value(membership) for _ in range(5)]
        final = orjson.loads((await status.get(timeout=5)).value)
    entered = {e["person"] for e in first_chunk + second_chunk}
    assert entered == set(people)
    assert {e["cause"]["kind"] for e in first_chunk} == {"backfill"}
    assert (progress["profiles"], progress["finished"]) == (CHUNK, False)
    assert (final["profiles"], final["finished"]) == (CHUNK + 5, True)


async def test_time_passing_exits_a_windowed_segment_through_a_tick(tmp_path: Any) -> None:
    from tests.support.clock import ManualClock
    from traitflow.worker.timers import TickScheduler

    start = 1_795_420_800_000
    clock = ManualClock(start)
    built = agent_app(Settings(data_dir=tmp_path, topic_prefix="t"), clock=clock)
    active = {"event": "Visit", "within": {"last": 1, "unit": "hours"}}
    built.registry.put(segment_from_spec({"key": "active", "condition": active}))
    membership = subscribe(built.handler.sinks.membership)
    events = subscribe(built.handler.sinks.events)
    scheduler = TickScheduler(built.handler.ticker, clock, 1.0, lambda: [0])
    visit = {"type": "track", "userId": "u1", "event": "Visit", "timestamp": "2026-11-23T08:00:00Z"}
    async with built.agent.test_context() as agent:
        await agent.put(orjson.dumps(visit), key=b"u1")
        entered = await next_value(membership)
        await scheduler.tick_once()
        assert events.empty()  # nothing is due yet: no tick job
        clock.advance(3_600_000)
        await scheduler.tick_once()
        tick = await events.get(timeout=5)
        await agent.put(tick.value, key=tick.key, headers=tick.headers)
        exited = await next_value(membership)
    assert entered["type"] == "audience.entered"
    assert (exited["type"], exited["at"]) == ("audience.exited", "2026-11-23T09:00:00.000Z")
    assert exited["cause"]["kind"] == "time"
    assert '"event":"Visit"' in exited["cause"]["condition"]


async def test_a_backfill_after_the_clock_moved_on_processes_the_overdue_instants_first(
    tmp_path: Any,
) -> None:
    """A backfill job reprocessed once the clock passed both ends of a window (a restart
    after a long stop) gives the enter and the exit, each at its own instant, before it
    decides at now: deciding only at now skipped both (seen on Apache Kafka)."""
    from tests.support.clock import ManualClock
    from traitflow.jobs import JOB_KEY, BackfillJob, kind_headers

    start = 1_795_420_800_000  # 2026-11-23T08:00:00Z
    clock = ManualClock(start)
    built = agent_app(Settings(data_dir=tmp_path, topic_prefix="t"), clock=clock)
    soon = {"trait": "renews", "op": "within_next", "value": 3, "unit": "days"}
    built.registry.put(segment_from_spec({"key": "renews-soon", "condition": soon}))
    membership = subscribe(built.handler.sinks.membership)
    renews = "2026-12-03T08:00:00Z"  # ten days on: in the window from 11-30 08:00 to then
    message = {"type": "identify", "userId": "u1", "timestamp": "2026-11-23T08:00:00Z",
               "traits": {"renews": renews}}  # fmt: skip
    async with built.agent.test_context() as agent:
        await agent.put(orjson.dumps(message), key=b"u1")
        assert membership.empty()
        clock.advance(11 * 86_400_000)  # past both ends, no tick ran meanwhile
        await agent.put(BackfillJob(built.registry.version, 0).to_bytes(), key=JOB_KEY,
                        headers=kind_headers())  # fmt: skip
        entered, exited = await next_value(membership), await next_value(membership)
    assert (entered["type"], entered["cause"]["kind"]) == ("audience.entered", "time")
    assert (exited["type"], exited["cause"]["kind"]) == ("audience.exited", "time")
    assert exited["at"] == "2026-12-03T08:00:00.001Z"  # the first instant outside


async def test_message_from_the_future_is_dead_lettered(worker: WorkerApp) -> None:
    deadletter = subscribe(worker.handler.sinks.deadletter)
    async with worker.agent.test_context() as agent:
        await agent.put(identify("u1", "trial", "2099-01-01T00:00:00Z"), key=b"u1")
        dead = await deadletter.get(timeout=5)
    assert b"in the future" in dict(dead.headers)["traitflow-reason"]


async def test_a_redelivered_record_is_not_applied_twice(worker: WorkerApp) -> None:
    """After a crash Kafka redelivers past the committed offset; counts must not double."""
    worker.registry.put(
        segment_from_spec(
            {"key": "once", "condition": {"event": "Signed Up", "count": {"exactly": 1}}}
        )
    )
    membership = subscribe(worker.handler.sinks.membership)
    signed_up = orjson.dumps(
        {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": "2026-11-23T08:00:00Z"}
    )
    async with worker.agent.test_context() as agent:
        await agent.put(signed_up, key=b"u1")
        entered = await next_value(membership)
        agent.sent_offset -= 1  # the same record, at the same offset, once more
        await agent.put(signed_up, key=b"u1")
        await agent.put(identify("u1", "trial"), key=b"u1")  # a new record still counts
        also_trial = await next_value(membership)
    assert (entered["segment"], entered["type"]) == ("once", "audience.entered")
    assert (also_trial["segment"], also_trial["type"]) == ("trial", "audience.entered")
    profile = worker.handler.store.load(b"u1")
    assert profile is not None
    assert profile.memberships["once"].member
    assert profile.applied_position == position(1)


async def test_a_bundle_applies_each_line_as_a_message_of_its_own(worker: WorkerApp) -> None:
    worker.registry.put(
        segment_from_spec(
            {"key": "twice", "condition": {"event": "Opened", "count": {"at_least": 2}}}
        )
    )
    membership = subscribe(worker.handler.sinks.membership)
    deadletter = subscribe(worker.handler.sinks.deadletter)
    events = subscribe(worker.handler.sinks.events)
    mine = partition_of(b"u1", 4)
    elsewhere = next(f"u{n}" for n in range(2, 50) if partition_of(f"u{n}".encode(), 4) != mine)
    opened = {
        "type": "track",
        "userId": "u1",
        "event": "Opened",
        "timestamp": "2026-11-23T08:00:00Z",
    }
    lines = [
        orjson.dumps(opened),
        b"{broken",
        orjson.dumps({**opened, "timestamp": "2026-11-23T08:01:00Z"}),  # same offset, line 2
        identify(elsewhere, "trial"),  # belongs to another partition
    ]
    headers = {BUNDLE_HEADER: str(len(lines)).encode()}
    async with worker.agent.test_context() as agent:
        await agent.put(b"\n".join(lines), key=None, partition=mine, headers=headers)
        entered = await next_value(membership)
        refused = await deadletter.get(timeout=5)
        forwarded = await events.get(timeout=5)
    assert (entered["person"], entered["segment"]) == ("u1", "twice")
    assert refused.value == b"{broken"
    assert dict(refused.headers)["traitflow-source"].endswith(b"#1")
    assert (forwarded.key, forwarded.value) == (elsewhere.encode(), lines[3])


async def test_a_bundle_too_long_to_order_its_lines_is_dead_lettered_whole(
    worker: WorkerApp,
) -> None:
    deadletter = subscribe(worker.handler.sinks.deadletter)
    too_long = b"\n".join([b"{}"] * (LINES_PER_POSITION + 1))
    async with worker.agent.test_context() as agent:
        await agent.put(too_long, key=None, headers={BUNDLE_HEADER: b"65537"})
        event = await deadletter.get(timeout=5)
    assert event.value == too_long
    assert dict(event.headers)["traitflow-reason"].startswith(b"invalid bundle: 65537 lines")


async def test_a_send_kafka_refuses_stops_the_worker_with_the_record_unacked(
    worker: WorkerApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restarting the agent would carry on past a record never acked, whose offset (and
    every later one) would never be committed: the worker stops, and a restart repeats."""

    async def refused(**record: Any) -> asyncio.Future[Any]:
        acknowledgement = asyncio.get_running_loop().create_future()
        acknowledgement.set_exception(TimeoutError("no acknowledgement"))
        return acknowledgement

    monkeypatch.setattr(worker.handler.sinks.membership, "send", refused)
    acked: list[Any] = []
    async with worker.agent.test_context() as agent:
        worker.batcher.closed = acked.extend
        await agent.put(identify("u1", "trial"), key=b"u1")
        await eventually(lambda: worker.app.crashed, timeout=0.5, every=0.01)
    assert worker.app.crashed and isinstance(worker.app.crash_reason, TimeoutError)
    assert acked == [] and worker.profiles.get(b"u1") is None


def track(user: str, event: str, message_id: str) -> bytes:
    return encoded("track", AT, message_id, userId=user, event=event)


async def test_a_retry_with_the_same_message_id_is_counted_once(worker: WorkerApp) -> None:
    """A client's resend arrives at a new offset: Kafka's position cannot tell, the
    messageId does."""
    worker.registry.put(
        segment_from_spec(
            {"key": "twice", "condition": {"event": "Paid", "count": {"at_least": 2}}}
        )
    )
    membership = subscribe(worker.handler.sinks.membership)
    async with worker.agent.test_context() as agent:
        await agent.put(track("u1", "Paid", "order-1"), key=b"u1")
        await agent.put(track("u1", "Paid", "order-1"), key=b"u1")  # the retry
        await agent.put(identify("u1", "trial"), key=b"u1")
        first = await next_value(membership)
        await agent.put(track("u1", "Paid", "order-2"), key=b"u1")
        second = await next_value(membership)
    assert first["segment"] == "trial"  # "twice" did not enter on the retry
    assert (second["segment"], second["type"]) == ("twice", "audience.entered")
    assert worker.handler.metrics.duplicates._value.get() == 1


async def test_a_job_or_change_with_a_field_of_the_wrong_type_is_dead_lettered(
    worker: WorkerApp,
) -> None:
    from traitflow.jobs import JOB_KEY, kind_headers

    deadletter = subscribe(worker.handler.sinks.deadletter)
    membership = subscribe(worker.handler.sinks.membership)
    link = {"identifier": "a", "kind": "user", "canonical": 5, "canonical_kind": "user",
            "count": "many"}  # fmt: skip
    async with worker.agent.test_context() as agent:
        await agent.put(orjson.dumps(link), key=b"a", headers=kind_headers("link"))
        await agent.put(b'{"until_ms": "soon"}', key=JOB_KEY, headers=kind_headers("tick"))
        await agent.put(identify("u2", "trial"), key=b"u2")
        dead = [await deadletter.get(timeout=5) for _ in range(2)]
        entered = await next_value(membership)
    reasons = [dict(d.headers)["traitflow-reason"].decode() for d in dead]
    assert reasons[0].startswith("invalid link record: canonical: Input should be a valid str")
    assert "count: Input should be a valid integer" in reasons[0]
    assert reasons[1].startswith("invalid tick record: until_ms:")
    assert entered["user_id"] == "u2"


async def test_a_message_that_would_grow_the_profile_past_the_limit_is_refused(
    tmp_path: Any,
) -> None:
    settings = Settings(data_dir=tmp_path, topic_prefix="agent-test", future_tolerance_s=YEAR_S,
                        max_profile_bytes=4000)  # fmt: skip
    worker = agent_app(settings)
    deadletter = subscribe(worker.handler.sinks.deadletter)

    def big(n: int) -> bytes:
        body = {"type": "identify", "userId": "u1", "timestamp": "2026-11-23T08:00:00Z",
                "traits": {f"t{n}": "x" * 1500}}  # fmt: skip
        return orjson.dumps(body)

    async with worker.agent.test_context() as agent:
        for n in range(3):
            await agent.put(big(n), key=b"u1")
        dead = await deadletter.get(timeout=5)
    reason = dict(dead.headers)["traitflow-reason"].decode()
    assert "profile too large" in reason and "(max_profile_bytes)" in reason
    assert dead.value == big(2)
    profile = worker.handler.store.load(b"u1")
    assert profile is not None and sorted(profile.traits) == ["t0", "t1"]


async def test_dead_letters_are_counted_by_the_kind_each_refusal_names(worker: WorkerApp) -> None:
    deadletter = subscribe(worker.handler.sinks.deadletter)
    too_deep = b'{"type":"identify","userId":"u","traits":' + b'{"a":' * 40 + b"1" + b"}" * 41
    async with worker.agent.test_context() as agent:
        for raw in (b"{oops", too_deep, b'{"type":"identify","userId":"null"}'):
            await agent.put(raw, key=b"u1")
            await deadletter.get(timeout=5)
    counted = {
        sample.labels["reason"]: sample.value
        for metric in worker.handler.metrics.dead_letters.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert counted == {"not_json": 1.0, "too_deep": 1.0, "junk_identifier": 1.0}


def test_start_up_objects_are_frozen_once_and_later_deliveries_cost_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It runs before every delivery: only the first may collect or walk the heap (a
    check through ``gc.get_freeze_count`` walked 100,000 objects every delivery)."""
    calls: list[str] = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            return lambda *args: calls.append(name) or 0

    monkeypatch.setattr(app_module, "gc", Recorder())
    app_module.freeze_startup_objects.cache_clear()
    for _ in range(3):
        app_module.freeze_startup_objects()
    assert calls == ["collect", "freeze"]


def test_standby_replicas_and_replication_reach_faust(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, standby_replicas=0, replication_factor=3)
    config = app_module.app_config(settings)
    assert (config["table_standby_replicas"], config["topic_replication_factor"]) == (0, 3)
    assert app_module.app_config(Settings(data_dir=tmp_path))["table_standby_replicas"] == 1
