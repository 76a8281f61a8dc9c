"""Every command, with nothing to talk to: one line saying what to do, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

KAFKA = "cannot reach Kafka at"
WORKER = "no worker answers at"


def commands(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"type":"identify","userId":"a"}\n')
    csv = tmp_path / "a.csv"
    csv.write_text("external_id,plan\nu1,x\n")
    yaml = tmp_path / "k.yaml"
    yaml.write_text("key: k\ncondition: {trait: plan, op: '=', value: x}\n")
    return {
        "send": (["send", str(jsonl)], KAFKA),
        "tail": (["tail"], KAFKA),
        "segments apply": (["segments", "apply", str(yaml)], KAFKA),
        "segments list": (["segments", "list"], KAFKA),
        "segments show": (["segments", "show", "k"], KAFKA),
        "segments status": (["segments", "status"], KAFKA),
        "segments members": (["segments", "members", "k"], KAFKA),
        "segments delete": (["segments", "delete", "k"], KAFKA),
        "segments explain": (["segments", "explain", "k", "ada"], WORKER),
        "import": (["import", str(csv)], KAFKA),
        "sync": (["sync", str(tmp_path), "--pattern", "a.csv"], KAFKA),
        "deliver": (["deliver", "--url", "http://127.0.0.1:9/hook"], KAFKA),
        "profile": (["profile", "ada"], WORKER),
    }


@pytest.mark.parametrize(
    "name",
    list(commands(Path("/tmp"))),  # names only; files are made per test
)
@pytest.mark.parametrize("embedded", [True, False], ids=["embedded", "configured"])
def test_a_command_without_a_broker_says_what_to_do_in_one_line(
    tmp_path: Path, name: str, embedded: bool
) -> None:
    args, said = commands(tmp_path)[name]
    env = {
        **os.environ,
        "TRAITFLOW_DATA_DIR": str(tmp_path / "state"),
        "TRAITFLOW_ADMIN_TOKEN": "a-token-of-enough-characters",
        "TRAITFLOW_WEB_PORT": str(free_port()),
    }
    if embedded:
        env["TRAITFLOW_EMBEDDED_PORT"] = str(free_port())
    else:
        env["TRAITFLOW_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "traitflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("error: ") and said in errors[0], errors[0]
    if said == KAFKA and embedded:
        assert "traitflow up" in errors[0]
    assert "Traceback" not in done.stdout + done.stderr
