"""Every topic a worker (or the admin API, or ``tail``) reads, fuzzed on a real broker.

Hypothesis draws arbitrary keys, values and headers, shaped a little like what each topic
carries so that some of them get past the first check: 200 records or more on each topic,
half before a worker restart and half after. Afterwards the worker is alive, ``/readyz``
tells the truth (``degraded``, naming the feeds' skipped records), the admin API answers
on what it reads from those topics, and a valid message still makes someone enter.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.support.kafka_helpers import identify, send_messages
from tests.support.web_helpers import get_json, wait_ready
from traitflow.broker.clients import producer
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.ingest.records import BUNDLE_HEADER, FORWARDED_HEADER, KIND_HEADER
from traitflow.jobs import JOB_KEY
from traitflow.privacy.suppressions import id_hash
from traitflow.readers.tail import follow
from traitflow.segments import segment_from_spec
from traitflow.segments.replay import REPLAY_HEADER
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

TOKEN = "fuzz-admin-token-long-enough"
PER_TOPIC = 200
# "trial" is among the fuzzed keys (its record then cannot be read, or is a tombstone);
# "steady" is not: people still enter it after the fuzzing
TRIAL, STEADY = (
    segment_from_spec({"key": key, "condition": {"trait": "plan", "op": "=", "value": "trial"}})
    for key in ("trial", "steady")
)
KINDS = ["tick", "backfill", "replay", "replay-apply", "replay-done", "sweep", "link",
         "merge-into", "absorb", "unclaim", "delete", "forget", "boom"]  # fmt: skip

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=20), st.sampled_from(["trial", "ada", "track", "identify", "1e308"]),
)  # fmt: skip
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["type", "userId", "anonymousId", "traits", "event", "properties", "timestamp",
          "messageId", "key", "condition", "group", "at_ms", "version", "partition", "id",
          "items", "features", "from_ms", "until_ms", "identifier", "profile",
          "person"]  # fmt: skip
shaped = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


def as_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers past 64 bits: written as JSON text would have them
        return repr(value).encode()


values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    shaped.map(as_bytes),
    json_values.map(as_bytes),
    st.lists(shaped.map(as_bytes), min_size=1, max_size=3).map(b"\n".join),
)
keys = st.one_of(
    st.none(), st.binary(max_size=24), st.sampled_from([b"ada", b"trial", JOB_KEY, b"computed/x"]),
    st.just(id_hash("ada").encode()),
)  # fmt: skip
header_names = st.sampled_from(
    [KIND_HEADER, BUNDLE_HEADER, FORWARDED_HEADER, REPLAY_HEADER, "traitflow-reason", "x"]
)
header_values = st.one_of(
    st.none(), st.binary(max_size=16), st.sampled_from(KINDS).map(str.encode),
    st.sampled_from([b"user", b"anonymous", b"9" * 5000, b"2", b"-1"]), shaped.map(as_bytes),
)  # fmt: skip
records = st.tuples(keys, values, st.lists(st.tuples(header_names, header_values), max_size=3))
Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def drawn(count: int, topic_seed: int) -> list[Record]:
    """``count`` records, each one example Hypothesis generates (seeded per topic: the
    same records on every run)."""
    found: list[Record] = []

    @seed(topic_seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(records)
    def take(record: Record) -> None:
        found.append(record)

    take()
    return found


def fuzzed_topics(configured: Settings) -> list[str]:
    topics = configured.topics
    app = configured.app_id
    changelogs = [f"{app}-{table}-changelog"
                  for table in ("profiles", "schedule", "identities", "replays")]  # fmt: skip
    return [topics.events, topics.segments, topics.suppressions, topics.sessions,
            topics.status, topics.audit, topics.history, topics.membership, topics.deadletter,
            *changelogs]  # fmt: skip


def compacted(configured: Settings) -> set[str]:
    topics = configured.topics
    changelogs = {topic for topic in fuzzed_topics(configured) if topic.endswith("-changelog")}
    return {topics.segments, topics.suppressions, topics.sessions, topics.status, *changelogs}


async def fuzz(configured: Settings, batches: dict[str, list[Record]], half: int) -> None:
    # Apache Kafka refuses a keyless record on a compacted topic (the embedded broker takes
    # it, and the workers must survive it there)
    keyed = set() if configured.embedded else compacted(configured)
    async with producer(configured) as client:
        pending = []
        for topic, batch in batches.items():
            part = batch[: PER_TOPIC // 2] if half == 0 else batch[PER_TOPIC // 2 :]
            for key, value, headers in part:
                if key is None and (value is None or topic in keyed):
                    key = b""  # a tombstone needs a key on any broker
                pending.append(await client.send(topic, key=key, value=value, headers=headers))
        for acknowledgement in pending:
            await acknowledgement


async def test_no_record_on_any_topic_stops_a_worker(settings: Settings, tmp_path: Path) -> None:
    configured = settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    await apply_definitions(configured, [TRIAL, STEADY])
    batches = {topic: drawn(PER_TOPIC, n) for n, topic in enumerate(fuzzed_topics(configured))}
    assert all(len(batch) >= PER_TOPIC for batch in batches.values())
    log = tmp_path / "worker.log"
    base = f"http://127.0.0.1:{configured.web_port}"
    worker = start_worker(configured, log)
    try:
        await wait_ready(base)
        await fuzz(configured, batches, 0)
        assert stop_process(worker) == 0, log.read_text()[-3000:]
        worker = start_worker(configured, log)
        await fuzz(configured, batches, 1)
        await wait_ready(base)

        zoe = identify("zoe-after-fuzz", "2026-11-23T08:00:00Z", "fuzz-zoe", plan="trial")
        await send_messages(configured, zoe)
        entered = await _entered(configured, "zoe-after-fuzz")
        assert entered["segment"] == "steady"

        status, ready = await get_json(base + "/readyz", TOKEN)
        assert status == 200 and ready["status"] == "degraded", ready
        said = "\n".join(ready["degraded"])
        assert configured.topics.segments in said or "cannot be read" in said, said
        for path in ("/admin/segments", "/admin/backfills", "/admin/segments/steady/history",
                     "/admin/dead-letters", "/admin/membership"):  # fmt: skip
            status, body = await get_json(base + path, TOKEN)
            assert status == 200, (path, body)
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]


async def _entered(configured: Settings, person: str) -> dict[str, Any]:
    """The membership event of ``person``'s entry, read with ``tail``'s own reader (which
    must pass over the fuzzed records on the membership topic)."""

    async def first() -> dict[str, Any]:
        async for event in follow(configured, from_beginning=True):
            if event.get("person") == person and event["segment"] == "steady":
                return event
        raise AssertionError("the membership topic ended")

    return await asyncio.wait_for(first(), timeout=90)
