"""A worker with TRAITFLOW_LOG_FORMAT=json writes nothing but JSON lines, and no person."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.support.kafka_helpers import identify, membership_events, read_records, send_messages
from tests.support.web_helpers import wait_ready
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration


async def test_json_logs(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"log_format": "json", "log_level": "debug"})
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await wait_ready(f"http://127.0.0.1:{settings.web_port}")
        trial = {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
        await apply_definitions(settings, [segment_from_spec(trial)])
        person = "person-7f3a9c"
        await send_messages(settings, identify(person, "2026-11-23T08:00:00Z", "m1", plan="trial"))
        await send_messages(settings, b"{not json")
        await membership_events(settings, 1)
        await read_records(settings, settings.topics.deadletter, 1)  # it was handled
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = [orjson.loads(line) for line in lines]  # fails on any non-JSON line
    assert any("dead-lettered" in entry["message"] for entry in parsed)
    assert {entry["level"] for entry in parsed} >= {"info", "warning"}
    assert person not in log.read_text()
