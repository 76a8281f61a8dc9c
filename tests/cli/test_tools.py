"""``traitflow send`` and ``traitflow tail`` against a real broker."""

import asyncio
from pathlib import Path

import orjson
import pytest

from tests.cli.helpers import run_cli
from tests.support.kafka_helpers import read_records
from traitflow.broker.clients import publish
from traitflow.config import Settings
from traitflow.ingest.bundles import unbundle
from traitflow.ingest.records import BUNDLE_HEADER
from traitflow.membership import Cause, Transition, membership_event
from traitflow.profiles import Profile

pytestmark = pytest.mark.integration

GOOD = b'{"type":"identify","userId":"ada","traits":{"plan":"trial"}}'


def test_send_publishes_valid_lines_keyed_by_person_and_names_bad_lines(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(GOOD + b"\n\n{oops\n" + GOOD + b"\n")
    result = run_cli(settings, "send", str(path))
    assert result.exit_code == 1
    assert f"{path}:3: not sent: not JSON" in result.output
    records = asyncio.run(read_records(settings, settings.topics.events, 2, settle=0.5))
    assert [(r.key, r.value) for r in records] == [(b"ada", GOOD), (b"ada", GOOD)]


def test_send_raw_publishes_bad_lines_too(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"{oops\n" + GOOD + b"\n")
    assert run_cli(settings, "send", "--raw", str(path)).exit_code == 0
    assert len(asyncio.run(read_records(settings, settings.topics.events, 2))) == 2


def test_tail_prints_readable_lines_or_json(settings: Settings) -> None:
    event = membership_event(
        Profile("ada", user_id="ada"), Transition("trial", True, 1, 0), Cause("m1", "identify")
    )
    asyncio.run(publish(settings, settings.topics.membership, [(b"ada", orjson.dumps(event))]))
    readable = run_cli(settings, "tail", "--from-beginning", "--count", "1")
    assert "entered" in readable.output and "trial" in readable.output and "ada" in readable.output
    raw = run_cli(settings, "tail", "--from-beginning", "--count", "1", "--json")
    assert orjson.loads(raw.output) == event


def test_send_bundle_packs_each_partition_s_messages_into_one_record(
    settings: Settings, tmp_path: Path
) -> None:
    lines = [
        orjson.dumps({"type": "track", "userId": f"u{n}", "event": "Opened"}) for n in range(9)
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_cli(settings, "send", "--bundle", str(path))
    assert result.exit_code == 0 and "sent 9 messages" in result.output
    records = asyncio.run(read_records(settings, settings.topics.events, 1, settle=1.0))
    assert len(records) <= settings.partitions
    bundles = [r for r in records if BUNDLE_HEADER in dict(r.headers)]
    assert all(len(unbundle(r.value)) > 1 for r in bundles)  # a lone message stays plain
    assert len(bundles) >= len(records) - 1
    sent = [line for r in records for line in unbundle(r.value)]
    assert sorted(sent) == sorted(lines)
