"""A partition that stops being fetched while assigned (what the embedded broker's
unchanged-generation stall does): /readyz says so, a metric counts it, the worker rejoins
its group and the partition's records are processed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.kafka_helpers import identify, membership_events, send_messages
from tests.support.waiting import eventually
from tests.support.web_helpers import get, wait_ready
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import settings_env, stop_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)


async def test_a_stalled_partition_is_shown_counted_and_healed(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"stall_after_s": 3.0})
    await apply_definitions(settings, [TRIAL])
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.worker.stalling_worker"],
            env={**os.environ, **settings_env(settings)},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{settings.web_port}"
    try:
        await wait_ready(base)
        stalled = await eventually(lambda: "STALLED" in log.read_text(), timeout=90)
        assert stalled, f"no stall: {log.read_text()[-3000:]}"
        await send_messages(settings, identify("ada", "2026-11-23T08:00:00Z", "m1", plan="trial"))
        said = await _readyz_until(base, lambda status, body: body.get("status") == "stalled")
        assert said["stalled_partitions"] and not said["no_partition_stalled"]
        [event] = await membership_events(settings, 1, timeout=60)
        assert (event["person"], event["type"]) == ("ada", "audience.entered")
        _, metrics = await get(base + "/metrics")
        counted = [line for line in metrics.splitlines()
                   if line.startswith("traitflow_stalled_partitions_total")]  # fmt: skip
        assert counted and float(counted[0].split()[-1]) >= 1, counted
        await _readyz_until(base, lambda status, body: status == 200)
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]


async def _readyz_until(
    base: str, condition: Callable[[int, dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    async def readyz() -> tuple[int, str, dict[str, Any]]:
        status, text = await get(base + "/readyz")
        return status, text, orjson.loads(text) if text.startswith("{") else {}

    status, text, body = await eventually(
        readyz, lambda found: condition(found[0], found[2]), timeout=timeout, every=0.1
    )
    assert condition(status, body), f"/readyz never did: last {status} {text}"
    return body
