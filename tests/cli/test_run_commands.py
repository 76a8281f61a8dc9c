"""``traitflow broker`` and ``traitflow up`` as a user runs them, signals included."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.cli.processes import Command, port_open, processes_mentioning
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_broker_creates_topics_and_stops_cleanly(sig: int) -> None:
    port = free_port()
    broker = Command("--embedded-port", str(port), "--topic-prefix", "demo", "broker")
    broker.wait_for("ready", timeout=30)
    for topic in ("events", "segments", "membership", "deadletter"):
        broker.wait_for(f"demo-{topic}", timeout=5)
    assert broker.interrupt(sig) == 0
    assert not port_open(port)


def test_broker_refuses_a_busy_port() -> None:
    port = free_port()
    first = Command("--embedded-port", str(port), "broker")
    first.wait_for("ready", timeout=30)
    try:
        second = Command("--embedded-port", str(port), "broker")
        second.wait_for("already in use", timeout=30)
        assert second.process.wait(10) == 2
    finally:
        first.interrupt(signal.SIGTERM)


def test_up_shows_an_entered_event_within_20s_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "up-state"
    started = time.monotonic()
    up = Command(
        "--embedded-port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--web-port",
        str(free_port()),
        "up",
    )
    up.wait_for(" entered ", timeout=20)
    assert time.monotonic() - started < 20
    assert processes_mentioning(str(data_dir)), "the worker should be running"

    assert up.interrupt(signal.SIGINT) == 0
    up.wait_for("stopped", timeout=5)
    assert not port_open(port)
    assert processes_mentioning(str(data_dir)) == []
