"""Hostile input on a real broker: poison records straight on the events topic and through
the bridge, a worker restart in the middle, then valid messages. The worker stays up,
every poison record is on the dead-letter topic with its reason, the bridge refuses what
the worker would dead-letter, and valid messages still produce their events (time too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.bridge.conftest import WRITE_KEY
from tests.conftest import TEST_NOW_MS, set_clock
from tests.support.kafka_helpers import identify, membership_events, read_records
from tests.support.web_helpers import get, wait_ready
from traitflow.bridge.server import running_bridge
from traitflow.broker.clients import publish
from traitflow.catalog.topic import apply_definitions, wait_for_replay
from traitflow.config import Settings
from traitflow.ingest.records import BUNDLE_HEADER
from traitflow.jobs import kind_headers
from traitflow.segments import segment_from_spec
from traitflow.timeutil import iso_from_ms
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

DL_LIMIT = 100_000
PROFILE_LIMIT = 60_000
TRAIT_LIMIT = 20_000
TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)
JUST_VISITED = segment_from_spec(
    {"key": "just-visited", "condition": {"event": "Pricing", "types": ["page"],
     "count": {"at_least": 1}, "within": {"last": 1, "unit": "hours"}}}
)  # fmt: skip
BILL_SOON = segment_from_spec(
    {"key": "bill-soon",
     "condition": {"trait": "next_bill_date", "op": "within_next", "value": 3, "unit": "days"}}
)  # fmt: skip


@dataclass
class Poison:
    name: str
    value: bytes | None  # None: a tombstone
    reason: str
    headers: list[tuple[str, bytes]] | None = None
    key: bytes = b"poison"


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def msg(**fields: Any) -> bytes:
    return orjson.dumps({"type": "identify", "userId": "eve", **fields})


def catalogue() -> list[Poison]:
    deep = b'{"type":"identify","userId":"eve","traits":' + b'{"x":' * 300 + b"1" + b"}" * 301
    huge = b'{"type":"identify","userId":"eve","traits":{"x":"' + b"y" * 1_000_000 + b'"}}'
    return [
        Poison("not json", b"{oops", "not JSON"),
        Poison("array", b"[1,2]", "not a JSON object"),
        Poison("unknown type", b'{"type":"shout","userId":"eve"}', "unknown type"),
        Poison("track without event", b'{"type":"track","userId":"eve"}', "invalid track"),
        Poison("no ids", b'{"type":"identify","traits":{}}', "missing userId and anonymousId"),
        Poison("junk id", msg(userId="null"), "junk id"),
        Poison("huge float id", msg(userId=1e308), "not an exact id"),
        Poison("negative zero id", msg(userId=-0.0), "not an exact id"),
        Poison(
            "id past 64 bits",
            b'{"type":"identify","userId":18446744073709551616}',
            "not an exact id",
        ),
        Poison("year 0", msg(timestamp="0001-01-01T00:00:00+05:00"), "outside 1970-01-01"),
        Poison("far future", msg(timestamp="2300-01-01T00:00:00Z"), "in the future"),
        Poison("nested 300 deep", deep, "max_nesting_depth"),
        Poison("nested 40 deep", msg(traits=nested(40)), "max_nesting_depth"),
        Poison("trait too large", msg(traits={"blob": "z" * 25_000}), "max_trait_bytes"),
        Poison(
            "message too large",
            msg(traits={"a": "z" * 15_000, "b": "z" * 15_000, "c": "z" * 15_000}),
            "message too large",
        ),
        Poison("copy over the producer limit", huge, "message too large"),
        Poison("bad bundle line", msg() + b"\n{bundled oops", "not JSON", [(BUNDLE_HEADER, b"2")]),
        Poison(
            "link of wrong types",
            orjson.dumps(
                {
                    "identifier": "a",
                    "kind": "user",
                    "canonical": 5,
                    "canonical_kind": "user",
                    "count": "x",
                }
            ),
            "invalid link record",
            kind_headers("link"),
        ),
        Poison(
            "absorb of no profile",
            orjson.dumps({"survivor": "eve", "survivor_kind": "user", "profile": {"person": 5}}),
            "invalid absorb record",
            kind_headers("absorb"),
        ),
        Poison("tick not json", b"soon", "invalid tick record", kind_headers("tick")),
        Poison(
            "backfill of wrong types",
            b'{"version":"v","partition":[]}',
            "invalid backfill record",
            kind_headers("backfill"),
        ),
        Poison(
            "delete of wrong types",
            b'{"identifier": 5, "request": [], "requested_by": "x", "requested_at_ms": "now"}',
            "invalid delete record",
            kind_headers("delete"),
        ),
        Poison(
            "forget without its group",
            b'{"identifier": "a"}',
            "invalid forget record",
            kind_headers("forget"),
        ),
        Poison(
            "sweep of wrong types",
            b'{"partition": "p", "cutoff_ms": "soon"}',
            "invalid sweep record",
            kind_headers("sweep"),
        ),
        Poison(
            "replay of wrong types",
            b'{"version": 1, "partition": 0, "id": "r", "features": "f", "from_ms": "then"}',
            "invalid replay record",
            kind_headers("replay"),
        ),
        Poison(
            "replay items without bodies",
            b'{"id": "r", "items": [{"person": "a", "holder": "a", "source": 0}]}',
            "invalid replay-apply record",
            kind_headers("replay-apply"),
        ),
        Poison(
            "replay done from nowhere",
            b'{"id": "r", "source": "everywhere"}',
            "invalid replay-done record",
            kind_headers("replay-done"),
        ),
        Poison("unknown kind", b"{}", "unknown record kind", kind_headers("explode")),
        Poison("tombstone", None, "without a value"),
        Poison("bundle tombstone", None, "without a value", [(BUNDLE_HEADER, b"1")]),
        Poison(
            "bundle count of 5,000 digits", b"{digits", "not JSON", [(BUNDLE_HEADER, b"9" * 5000)]
        ),
        Poison("null header value", b"{null header", "not JSON", [(BUNDLE_HEADER, None)]),  # type: ignore[list-item]
        Poison(
            "forwarded as no kind",
            msg(userId="boss"),
            "invalid traitflow-forwarded header",
            [("traitflow-forwarded", b"boss")],
        ),
        Poison(
            "kind header of 100 bytes",
            b"{}" + b" " * 7,
            "unknown record kind",
            kind_headers("k" * 100),
        ),
    ]


async def test_poison_records_are_dead_lettered_and_the_worker_carries_on(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={
        "deadletter_max_bytes": DL_LIMIT, "max_profile_bytes": PROFILE_LIMIT,
        "max_trait_bytes": TRAIT_LIMIT, "write_keys": {WRITE_KEY: ""},
    })  # fmt: skip
    applied = await apply_definitions(settings, [TRIAL, JUST_VISITED, BILL_SOON])
    assert applied.replay is not None  # just-visited counts from history
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    poisons = catalogue()
    try:
        await wait_ready(f"http://127.0.0.1:{settings.web_port}")
        await wait_for_replay(settings, applied.replay.id, timeout_s=60)
        await _send_poison(settings, poisons[:11])
        await _through_the_bridge(settings)
        assert stop_process(worker) == 0, log.read_text()[-3000:]
        worker = start_worker(settings, log)
        await _send_poison(settings, poisons[11:])
        await _send_valid(settings)
        await _assert_dead_lettered(settings, poisons)
        await _assert_valid_events_and_time(settings)
        await _assert_web_server_is_private(settings)
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]


async def _send_poison(settings: Settings, poisons: list[Poison]) -> None:
    big = settings.model_copy(update={"max_message_bytes": 1_000_000})  # a 2 MB producer
    for poison in poisons:
        await publish(big, settings.topics.events, [(poison.key, poison.value)], poison.headers)


async def _through_the_bridge(settings: Settings) -> None:
    """Everything the worker would dead-letter is a 400 naming the reason; a person grown
    past the profile limit by accepted identifies is dead-lettered by the worker."""
    refused = {
        "deep": ({}, "not JSON"),
        "deep 300": ({}, "max_nesting_depth"),
        "deep 40": ({"userId": "eve", "traits": nested(40)}, "max_nesting_depth"),
        "junk": ({"userId": "null"}, "junk id"),
        "-0.0": ({"userId": -0.0}, "not an exact id"),
        "1e308": ({"userId": 1e308}, "not an exact id"),
        "year 0": ({"userId": "eve", "timestamp": "0001-01-01T00:00:00+05:00"}, "outside 1970"),
    }
    async with running_bridge(settings) as url, aiohttp.ClientSession() as http:
        auth = aiohttp.BasicAuth(WRITE_KEY, "")
        for name, (body, reason) in refused.items():
            raw = _deep_body(name) if name.startswith("deep ") or name == "deep" else b""
            raw = raw if name in ("deep", "deep 300") else orjson.dumps(body)
            async with http.post(f"{url}/v1/identify", data=raw, auth=auth) as answer:
                text = await answer.text()
                assert answer.status == 400, (name, text)
                assert reason in text, (name, text)
        for n in range(6):
            body = {"userId": "fat", "messageId": f"fat-{n}", "traits": {f"t{n}": "x" * 15_000}}
            async with http.post(f"{url}/v1/identify", json=body, auth=auth) as answer:
                assert answer.status == 200, await answer.text()


def _deep_body(name: str) -> bytes:
    """1,100 levels, past what orjson reads at all, or 300, which it reads and cannot write."""
    if name == "deep":
        return b'{"userId":"eve","traits":' + b"[" * 1100 + b"]" * 1100 + b"}"
    return b'{"userId":"eve","traits":' + b'{"x":' * 300 + b"1" + b"}" * 300 + b"}"


async def _send_valid(settings: Settings) -> None:
    far = identify("far", "2026-11-23T08:00:00Z", "f1", next_bill_date="2300-01-01T00:00:00Z")
    ada = identify("ada", "2026-11-23T08:00:00Z", "a1", plan="trial")
    visit = {"type": "page", "userId": "ada", "name": "Pricing", "messageId": "v1",
             "timestamp": iso_from_ms(TEST_NOW_MS)}  # fmt: skip
    await publish(settings, settings.topics.events,
                  [(b"far", orjson.dumps(far)), (b"ada", orjson.dumps(ada)),
                   (b"ada", orjson.dumps(visit)), (b"ada", orjson.dumps(visit))])  # fmt: skip


async def _assert_dead_lettered(settings: Settings, poisons: list[Poison]) -> None:
    records = await read_records(settings, settings.topics.deadletter, len(poisons) + 3, settle=2)
    reasons = {}
    for record in records:
        headers = dict(record.headers)
        reasons[record.value[:200]] = (headers["traitflow-reason"].decode(), headers, record)
    for poison in poisons:
        value = poison.value or b""
        first_line = value.split(b"\n")[-1] if poison.headers else value
        found = reasons.get(first_line[:200])
        assert found is not None, f"{poison.name} is not on the dead-letter topic"
        reason, headers, record = found
        if poison.name == "bad bundle line":
            assert headers["traitflow-source"].endswith(b"#1")  # the line, alone
        assert poison.reason in reason, (poison.name, reason)
        if len(value) > DL_LIMIT:
            assert len(record.value) == DL_LIMIT
            assert headers["traitflow-original-bytes"] == str(len(value)).encode()
    fat = [r for r in records if b'"userId":"fat"' in r.value]
    assert fat, "the identify past the profile limit is dead-lettered"
    assert all("max_profile_bytes" in dict(r.headers)["traitflow-reason"].decode() for r in fat)


async def _assert_valid_events_and_time(settings: Settings) -> None:
    events = await membership_events(settings, 2)
    got = {(e["person"], e["segment"], e["type"]) for e in events}
    assert {
        ("ada", "trial", "audience.entered"),
        ("ada", "just-visited", "audience.entered"),
    } <= got
    set_clock(settings, TEST_NOW_MS + 2 * 3_600_000)  # the visit leaves its one-hour window
    events = await membership_events(settings, 3)
    left = [e for e in events if e["type"] == "audience.exited"]
    assert [(e["person"], e["segment"], e["cause"]["kind"]) for e in left] == [
        ("ada", "just-visited", "time")
    ]
    entered = [e for e in events if e["segment"] == "just-visited" and "entered" in e["type"]]
    assert entered[0]["version"] == 1  # the repeated visit (same messageId) was not applied


async def _assert_web_server_is_private(settings: Settings) -> None:
    base = f"http://127.0.0.1:{settings.web_port}"
    for path in ("/table/profiles/ada/", "/table/identities/ada/", "/router/", "/graph/"):
        status, _ = await get(base + path)
        assert status == 404, path
    listening = _listening_addresses(settings.web_port)
    assert listening == {"127.0.0.1"}, listening


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # LISTEN
                found.add(_ip(address))
    return found


def _ip(hex_address: str) -> str:
    if len(hex_address) == 8:
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_address)))
    return hex_address  # an IPv6 listener: never expected, shown as is
