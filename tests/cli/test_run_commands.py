"""``traitflow broker`` and ``traitflow up`` as a user runs them, signals included."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli.helpers import global_args
from tests.cli.processes import Command, port_open, processes_mentioning
from tests.conftest import free_port
from tests.support.kafka_helpers import Group
from traitflow.config import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
README = (ROOT / "README.md").read_text()


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
    port, data_dir, bridge_port = free_port(), tmp_path / "up-state", free_port()
    options = ["--embedded-port", str(port), "--data-dir", str(data_dir)]
    options += ["--web-port", str(free_port())]
    started = time.monotonic()
    up = Command(
        *options,
        "up",
        "--bridge-port",
        str(bridge_port),
    )
    up.wait_for(" entered ", timeout=20)
    assert time.monotonic() - started < 20
    assert processes_mentioning(str(data_dir)), "the worker should be running"

    # The README's curl line, against the bridge that `up` started.
    assert any("try: curl -u demo-write-key:" in line for line in up.lines)
    identify = b'{"userId": "readme-reader", "traits": {"plan": "trial"}}'
    request = urllib.request.Request(
        f"http://127.0.0.1:{bridge_port}/v1/identify",
        data=identify,
        headers={"Authorization": "Basic " + base64.b64encode(b"demo-write-key:").decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    up.wait_for("trial-users           readme-reader", timeout=20)

    # The tour's second terminal, as the README writes it, while demo traffic flows.
    tour = [sys.executable, "-m", "traitflow", *options]
    sent = subprocess.run([*tour, "send", str(EXAMPLES / "bad-events.jsonl")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert sent.returncode == 1, sent.stdout + sent.stderr
    refused = [line for line in sent.stdout.splitlines() if "not sent" in line]
    assert [line.split(":")[1] for line in refused] == ["1", "2", "3"], sent.stdout
    up.wait_for(f"entered  {'high-value':<20}  ada  (v1, identify ex-10)", timeout=20)
    vip = tmp_path / "vip.yaml"
    vip.write_text(README.split("# vip.yaml\n")[1].split("```")[0])
    applied = subprocess.run([*tour, "segments", "apply", str(vip)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    zoe = tmp_path / "zoe.jsonl"
    zoe.write_text(README.split("echo '")[1].split("' > zoe.jsonl")[0] + "\n")
    sent = subprocess.run([*tour, "send", str(zoe)], capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    up.wait_for(f"entered  {'vip-trials':<20}  zoe", timeout=20)

    # A second terminal's CLI, with the same options, finds the admin token and the worker.
    shown = subprocess.run(
        [sys.executable, "-m", "traitflow", *options, "profile", "readme-reader", "--json"],
        capture_output=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr.decode()
    assert b'"plan": "trial"' in shown.stdout

    assert up.interrupt(signal.SIGINT) == 0
    up.wait_for("stopped", timeout=5)
    assert not port_open(port)
    assert processes_mentioning(str(data_dir)) == []


def test_bridge_serves_until_sigterm_and_never_prints_its_keys(
    settings: Settings, tmp_path: Path
) -> None:
    keys = tmp_path / "write-keys"
    keys.write_text("secret-web-key web\n")
    bridge_port = free_port()
    bridge = Command(
        *global_args(settings),
        "--log-level",
        "debug",
        "bridge",
        "--port",
        str(bridge_port),
        env={"TRAITFLOW_WRITE_KEYS_FILE": str(keys)},
    )
    bridge.wait_for("bridge listening", timeout=20)
    request = urllib.request.Request(
        f"http://127.0.0.1:{bridge_port}/v1/track",
        data=b'{"writeKey": "secret-web-key", "userId": "u1", "event": "Signed Up"}',
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    bridge.wait_for("POST /v1/track", timeout=5)
    assert bridge.interrupt(signal.SIGTERM) == 0
    assert not port_open(bridge_port)
    assert "secret-web-key" not in "".join(bridge.lines)


def test_bridge_without_keys_or_secret_refuses_to_start(settings: Settings) -> None:
    bridge = Command(*global_args(settings), "bridge", "--port", str(free_port()))
    bridge.wait_for("no write key and no webhook secret", timeout=20)
    assert bridge.process.wait(10) == 2


def test_deliver_runs_until_sigterm_and_reports(settings: Settings) -> None:
    deliver = Command(
        *global_args(settings),
        "deliver",
        "--url",
        f"http://127.0.0.1:{free_port()}/hook",
        "--destination",
        "crm",
        env={"TRAITFLOW_DELIVER_SECRET": "very-secret-value"},
    )
    deliver.wait_for("delivering destination 'crm'", timeout=20)
    assert "signed" in deliver.lines[-1]
    asyncio.run(_settled(settings, f"{settings.topic_prefix}-deliver-crm"))  # it polls
    assert deliver.interrupt(signal.SIGTERM) == 0
    deliver.wait_for("stopped: 0 delivered", timeout=5)
    assert "very-secret-value" not in "".join(deliver.lines)


async def _settled(settings: Settings, group_id: str) -> None:
    async with Group(settings, group_id) as group:
        await group.settled(1)
