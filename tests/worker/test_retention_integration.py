"""Retention on a real broker: a profile with no message for profile_ttl_days is deleted
(its members exit with cause expired); a recent one stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli
from tests.conftest import TEST_NOW_MS, set_clock
from tests.support.kafka_helpers import identify, membership_events, send_messages
from tests.support.web_helpers import wait_for_line, wait_ready
from traitflow.catalog.topic import apply_definitions
from traitflow.config import Settings
from traitflow.segments import segment_from_spec
from traitflow.worker.process import start_worker, stop_process

pytestmark = pytest.mark.integration

TRIAL = segment_from_spec(
    {"key": "trial", "condition": {"trait": "plan", "op": "=", "value": "trial"}}
)
DAY_MS = 86_400_000


async def test_a_profile_silent_past_its_ttl_exits_and_is_deleted(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"profile_ttl_days": 1.0, "retention_sweep_s": 0.5})
    await apply_definitions(settings, [TRIAL])
    log, base = tmp_path / "worker.log", f"http://127.0.0.1:{settings.web_port}"
    worker = start_worker(settings, log)
    try:
        await wait_ready(base)
        await send_messages(
            settings,
            identify("old", "2026-11-23T08:00:00Z", "m1", plan="trial"),
            identify("recent", "2026-11-25T08:00:00Z", "m2", plan="trial"),
        )
        await membership_events(settings, 2)
        set_clock(settings, TEST_NOW_MS + 2 * DAY_MS)  # 2026-11-25T12:00: "old" is 2 days quiet
        await wait_for_line(f"{base}/metrics", "traitflow_profiles_expired_total 1.0")
        events = await membership_events(settings, 3, settle=1.0)
        [exited] = [e for e in events if e["type"] == "audience.exited"]
        assert (exited["person"], exited["segment"], exited["cause"]["kind"]) == (
            "old",
            "trial",
            "expired",
        )
        gone = await asyncio.to_thread(run_cli, settings, "profile", "old")
        assert gone.exit_code != 0 and "no profile" in str(gone.exception)
        kept = await asyncio.to_thread(run_cli, settings, "profile", "recent", "--json")
        assert kept.exit_code == 0, kept.output
    finally:
        assert stop_process(worker) == 0, log.read_text()[-3000:]
