"""The command line's own rules: global options anywhere, help that says what is in force."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from traitflow.cli.main import app, globals_first


@pytest.mark.parametrize(
    ("given", "read"),
    [
        (["worker", "--web-port", "6067"], ["--web-port", "6067", "worker"]),
        (["--data-dir", "x", "segments", "apply", "f.yaml", "--topic-prefix=p"],
         ["--data-dir", "x", "--topic-prefix=p", "segments", "apply", "f.yaml"]),
        (["send", "f.jsonl", "--raw", "--log-level", "debug"],
         ["--log-level", "debug", "send", "f.jsonl", "--raw"]),
        (["tail", "--", "--web-port"], ["tail", "--", "--web-port"]),
        (["--version"], ["--version"]),
        (["send", "--help"], ["send", "--help"]),
    ],
)  # fmt: skip
def test_global_options_after_the_command_are_moved_before_it(
    given: list[str], read: list[str]
) -> None:
    assert globals_first(given) == read


def test_version_and_help_show_what_is_in_force() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.startswith("traitflow ")
    root = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "(env TRAITFLOW_PARTITIONS, default 4)" in root
    assert "(env TRAITFLOW_BOOTSTRAP_SERVERS, default unset)" in root
    send = runner.invoke(app, ["send", "--help"], env={"COLUMNS": "200"}).output
    assert "--raw" in send and "<bool>" not in send


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TRAITFLOW_IDENTITY_TRAIT_RULES", '{"plan": "latest"}',
         "TRAITFLOW_IDENTITY_TRAIT_RULES[plan]: Input should be 'most_recent', 'oldest' or "
         "'non_empty' (got 'latest')"),
        ("TRAITFLOW_LOG_FORMAT", "xml", "TRAITFLOW_LOG_FORMAT: Input should be 'text' or 'json'"),
    ],
)  # fmt: skip
def test_an_invalid_setting_is_one_line_naming_the_variable(
    variable: str, value: str, said: str
) -> None:
    """Before any broker is needed: a typo in a rule must not silently mean another."""
    done = subprocess.run(
        [sys.executable, "-m", "traitflow", "segments", "list"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, variable: value, "COLUMNS": "300"},
    )  # fmt: skip
    assert done.returncode == 2
    assert said in done.stderr and "Traceback" not in done.stderr
