"""The command line's own rules: global options anywhere, help that says what is in force."""

from __future__ import annotations

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
